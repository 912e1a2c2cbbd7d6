//! CPU exceptions as values (Intel SDM Vol. 3A, 6.15 "Exception and Interrupt Reference").

use std::borrow::Cow;

use crate::machine::PageFault;

pub const DE: u8 = 0;
pub const DB: u8 = 1;
pub const BP: u8 = 3;
pub const OF: u8 = 4;
pub const UD: u8 = 6;
pub const DF: u8 = 8;
pub const TS: u8 = 10;
pub const NP: u8 = 11;
pub const SS: u8 = 12;
pub const GP: u8 = 13;
pub const PF: u8 = 14;

/// Short mnemonic of an exception vector (`#GP`), or `INT n` style for others.
pub fn vector_name(vector: u8) -> Cow<'static, str> {
    let name = match vector {
        0 => "#DE",
        1 => "#DB",
        2 => "NMI",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        _ => return Cow::Owned(format!("vector {vector:#x}")),
    };
    Cow::Borrowed(name)
}

/// Contributory exceptions, for the double-fault rule (SDM Vol. 3A, table 6-5).
pub fn is_contributory(vector: u8) -> bool {
    matches!(vector, DE | TS | NP | SS | GP)
}

/// An exception raised by an instruction or during event delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    pub error_code: Option<u32>,
    /// For #PF: the linear address that goes to CR2.
    pub cr2: Option<u64>,
    /// Why, in one line, for the student.
    pub reason: Cow<'static, str>,
}

impl Exception {
    pub fn new(
        vector: u8,
        error_code: Option<u32>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Exception {
        Exception {
            vector,
            error_code,
            cr2: None,
            reason: reason.into(),
        }
    }
    pub fn gp(code: u32, reason: impl Into<Cow<'static, str>>) -> Exception {
        Exception::new(GP, Some(code), reason)
    }
    pub fn ud(reason: impl Into<Cow<'static, str>>) -> Exception {
        Exception::new(UD, None, reason)
    }
    pub fn ss(code: u32, reason: impl Into<Cow<'static, str>>) -> Exception {
        Exception::new(SS, Some(code), reason)
    }
    pub fn np(code: u32, reason: impl Into<Cow<'static, str>>) -> Exception {
        Exception::new(NP, Some(code), reason)
    }
    pub fn ts(code: u32, reason: impl Into<Cow<'static, str>>) -> Exception {
        Exception::new(TS, Some(code), reason)
    }
    pub fn de(reason: impl Into<Cow<'static, str>>) -> Exception {
        Exception::new(DE, None, reason)
    }
    pub fn pf(fault: PageFault) -> Exception {
        Exception {
            vector: PF,
            error_code: Some(fault.error_code),
            cr2: Some(fault.addr),
            reason: Cow::Owned(fault.explain()),
        }
    }

    /// `#GP(0x402): reason`.
    pub fn summary(&self) -> String {
        match self.error_code {
            Some(code) => format!("{}({code:#x}): {}", vector_name(self.vector), self.reason),
            None => format!("{}: {}", vector_name(self.vector), self.reason),
        }
    }
}

impl From<PageFault> for Exception {
    fn from(fault: PageFault) -> Exception {
        Exception::pf(fault)
    }
}

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}
