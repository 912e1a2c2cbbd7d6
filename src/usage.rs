//! The error a command reports to its user: printed as `ringstep: message`, exit
//! status 2 (commands in `cli`, `export`).

/// A user error: printed as `ringstep: message`, exit status 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
