//! Reading the files a user names (lessons, the files they include, scenarios, `--asm`,
//! `--elf`, `--machine`, key maps): only regular files, and only up to a size limit, so
//! that `/dev/zero`, a FIFO or a directory gives a message instead of a hang or an
//! ever-growing buffer.
//!
//! This module sits below every other one and imports nothing from the crate.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The largest text file read: a lesson, scenario, assembler source or key map (16 MiB).
pub const MAX_TEXT_BYTES: u64 = 16 << 20;
/// The largest binary file read: an ELF file for `--elf` (256 MiB).
pub const MAX_BINARY_BYTES: u64 = 256 << 20;

/// Why a user's file could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The operating system refused (not found, no permission, ...).
    Io(io::Error),
    /// Not a regular file: what it is instead ("a directory", "a FIFO (named pipe)", ...).
    NotRegular(&'static str),
    /// Longer than `limit` bytes.
    TooLarge { limit: u64 },
    /// Not UTF-8: the first invalid byte is at this 1-based line and column.
    NotUtf8 { line: usize, col: usize },
}

impl ReadError {
    /// The I/O error kind (`InvalidData` for the checks made here).
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            ReadError::Io(e) => e.kind(),
            _ => io::ErrorKind::InvalidData,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(what) => {
                write!(f, "not a regular file but {what}; give a file to read")
            }
            ReadError::TooLarge { limit } => {
                write!(
                    f,
                    "larger than {} MiB, the most ringstep reads",
                    limit >> 20
                )
            }
            ReadError::NotUtf8 { line, col } => {
                write!(
                    f,
                    "not UTF-8 text (invalid byte at line {line}, column {col})"
                )
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Read a text file of at most [`MAX_TEXT_BYTES`] that must be UTF-8.
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    let bytes = read_bytes(path, MAX_TEXT_BYTES)?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let bad = e.utf8_error().valid_up_to();
        let before = &bytes[..bad];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // `before` is valid UTF-8 up to `bad`, so its last line counts in characters.
        let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
        ReadError::NotUtf8 { line, col }
    })
}

/// Read a regular file of at most `limit` bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    // Checked before opening: opening a FIFO for reading would wait for a writer.
    regular(&std::fs::metadata(path).map_err(ReadError::Io)?)?;
    let file = open_nonblocking(path).map_err(ReadError::Io)?;
    // Checked again on what was opened, in case the path changed in between.
    let meta = file.metadata().map_err(ReadError::Io)?;
    regular(&meta)?;
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    // Files whose size is not known in advance (e.g. under /proc) are cut off too.
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(buf)
}

fn regular(meta: &std::fs::Metadata) -> Result<(), ReadError> {
    if meta.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(kind_name(&meta.file_type())))
}

#[cfg(unix)]
fn kind_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn kind_name(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Open for reading without waiting (O_NONBLOCK where its value is known): a FIFO put
/// in place of the checked file after the check then fails the second check instead
/// of blocking. O_NONBLOCK has no effect on regular files.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86",
            target_arch = "x86_64",
            target_arch = "arm",
            target_arch = "aarch64",
            target_arch = "riscv64",
            target_arch = "powerpc64",
            target_arch = "s390x"
        )
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        opts.custom_flags(O_NONBLOCK);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ringstep-userfile-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(name);
        let _ = std::fs::write(&path, bytes);
        path
    }

    #[test]
    fn reads_a_regular_file() {
        let p = temp("ok.txt", "héllo\n".as_bytes());
        assert_eq!(read_text(&p).expect("read"), "héllo\n");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let p = temp("bad.txt", b"ab\nc\xe9d\n");
        let e = read_text(&p).expect_err("not utf-8");
        assert_eq!(
            e.to_string(),
            "not UTF-8 text (invalid byte at line 2, column 2)"
        );
    }

    #[test]
    fn size_limit() {
        let p = temp("big.bin", &[7u8; 100]);
        assert!(matches!(
            read_bytes(&p, 99),
            Err(ReadError::TooLarge { limit: 99 })
        ));
        assert_eq!(read_bytes(&p, 100).expect("read").len(), 100);
    }

    #[test]
    fn directories_and_missing_files() {
        let e = read_text(&std::env::temp_dir()).expect_err("dir");
        assert!(e.to_string().contains("a directory"), "{e}");
        let e = read_text(Path::new("/nonexistent/ringstep")).expect_err("missing");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
