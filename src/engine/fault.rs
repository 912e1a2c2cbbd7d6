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

/// What one event of a fault chain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// An exception raised by the instruction or during the delivery of the previous one.
    Raised,
    /// The vector of the previous event has no handler: the run stops there.
    NoHandler,
    /// A fault while delivering #DF: the processor shuts down (triple fault).
    Shutdown,
}

/// One event of the chain that led to a fault stop, in the order they happened
/// within the failing step (see `Stop::chain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub kind: LinkKind,
    /// The exception's vector; for `NoHandler`, the vector that could not be delivered;
    /// for `Shutdown`, #DF.
    pub vector: u8,
    pub error_code: Option<u32>,
    /// The address loaded into CR2 (#PF; a shutdown keeps the last one).
    pub cr2: Option<u64>,
    /// What caused it, with the SDM section.
    pub reason: String,
}

impl Link {
    pub fn raised(e: &Exception, reason: String) -> Link {
        Link {
            kind: LinkKind::Raised,
            vector: e.vector,
            error_code: e.error_code,
            cr2: e.cr2,
            reason,
        }
    }

    /// `#GP`, `no handler for #NP`, `triple fault`.
    pub fn name(&self) -> String {
        match self.kind {
            LinkKind::Raised => vector_name(self.vector).into_owned(),
            LinkKind::NoHandler => format!("no handler for {}", vector_name(self.vector)),
            LinkKind::Shutdown => "triple fault".to_string(),
        }
    }

    /// `#GP(0x2b) reason [CR2=0x...]` on one line.
    pub fn line(&self) -> String {
        let mut s = self.name();
        if let Some(code) = self.error_code {
            s.push_str(&format!("({code:#x})"));
        }
        s.push_str(": ");
        s.push_str(&self.reason);
        if let Some(cr2) = self.cr2 {
            s.push_str(&format!(" [CR2={cr2:#x}]"));
        }
        s
    }
}

/// Why `second`, raised while delivering `first`, is handled as it is (SDM Vol. 3A,
/// Table 6-5): the words that go into the chain.
pub fn combination(first: u8, second: u8) -> &'static str {
    let class = |v: u8| {
        if v == PF {
            "page fault"
        } else if is_contributory(v) {
            "contributory"
        } else {
            "benign"
        }
    };
    match (class(first), class(second)) {
        ("contributory", "contributory") => "contributory + contributory",
        ("page fault", "page fault") => "page fault + page fault",
        ("page fault", "contributory") => "page fault + contributory",
        ("contributory", "page fault") => "contributory + page fault: delivered serially",
        ("benign", _) | (_, "benign") => "benign: delivered serially",
        _ => "delivered serially",
    }
}

/// The chain a `Stop` carries: boxed, so that a stop without one (most) stays small
/// (one pointer: `Result<Outcome, Stop>` is the engine's step result).
#[allow(clippy::box_collection)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chain(Option<Box<Vec<Link>>>);

impl Chain {
    pub fn as_slice(&self) -> &[Link] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

impl From<Vec<Link>> for Chain {
    fn from(v: Vec<Link>) -> Chain {
        Chain((!v.is_empty()).then(|| Box::new(v)))
    }
}
