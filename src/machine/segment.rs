//! Segment selectors, descriptors and the hidden descriptor cache
//! (Intel SDM Vol. 3A, 3.4.2 "Segment Selectors", 3.4.5 "Segment Descriptors").

use serde::Serialize;

/// The six segment registers, numbered as the CPU encodes them in the ModRM reg field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Es,
        SegReg::Fs,
        SegReg::Gs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SegReg::Es => "es",
            SegReg::Cs => "cs",
            SegReg::Ss => "ss",
            SegReg::Ds => "ds",
            SegReg::Fs => "fs",
            SegReg::Gs => "gs",
        }
    }

    pub fn from_name(name: &str) -> Option<SegReg> {
        SegReg::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    pub fn from_iced(reg: iced_x86::Register) -> Option<SegReg> {
        use iced_x86::Register as R;
        Some(match reg {
            R::ES => SegReg::Es,
            R::CS => SegReg::Cs,
            R::SS => SegReg::Ss,
            R::DS => SegReg::Ds,
            R::FS => SegReg::Fs,
            R::GS => SegReg::Gs,
            _ => return None,
        })
    }
}

/// A 16-bit selector: index into the GDT/LDT, table indicator and requested privilege level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Selector(pub u16);

impl Selector {
    pub fn index(self) -> u16 {
        self.0 >> 3
    }
    /// Table indicator: true selects the LDT.
    pub fn ti(self) -> bool {
        self.0 & 4 != 0
    }
    pub fn rpl(self) -> u8 {
        (self.0 & 3) as u8
    }
    /// A null selector (index 0 in the GDT, any RPL).
    pub fn is_null(self) -> bool {
        self.0 & !3 == 0
    }
}

/// Access-rights bits of a segment descriptor, kept in the same layout the VMX
/// guest-state area uses: type 3:0, S 4, DPL 6:5, P 7, AVL 12, L 13, D/B 14, G 15,
/// and bit 16 for "unusable" (a null selector was loaded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Attr(pub u32);

impl Attr {
    pub const UNUSABLE: u32 = 1 << 16;

    pub fn ty(self) -> u8 {
        (self.0 & 0xf) as u8
    }
    /// S: code/data (true) or system (false) descriptor.
    pub fn s(self) -> bool {
        self.0 & (1 << 4) != 0
    }
    pub fn dpl(self) -> u8 {
        ((self.0 >> 5) & 3) as u8
    }
    pub fn present(self) -> bool {
        self.0 & (1 << 7) != 0
    }
    pub fn avl(self) -> bool {
        self.0 & (1 << 12) != 0
    }
    pub fn l(self) -> bool {
        self.0 & (1 << 13) != 0
    }
    pub fn db(self) -> bool {
        self.0 & (1 << 14) != 0
    }
    pub fn g(self) -> bool {
        self.0 & (1 << 15) != 0
    }
    pub fn unusable(self) -> bool {
        self.0 & Self::UNUSABLE != 0
    }
    pub fn is_code(self) -> bool {
        self.s() && self.ty() & 8 != 0
    }
    pub fn is_data(self) -> bool {
        self.s() && self.ty() & 8 == 0
    }
    /// Code: conforming bit. Data: expand-down bit.
    pub fn conforming(self) -> bool {
        self.is_code() && self.ty() & 4 != 0
    }
    pub fn expand_down(self) -> bool {
        self.is_data() && self.ty() & 4 != 0
    }
    /// Data: writable. Code: never.
    pub fn writable(self) -> bool {
        self.is_data() && self.ty() & 2 != 0
    }
    /// Data: always. Code: the readable bit.
    pub fn readable(self) -> bool {
        self.is_data() || (self.is_code() && self.ty() & 2 != 0)
    }
    pub fn accessed(self) -> bool {
        self.s() && self.ty() & 1 != 0
    }

    #[allow(clippy::too_many_arguments)]
    pub fn from_fields(
        ty: u8,
        s: bool,
        dpl: u8,
        p: bool,
        avl: bool,
        l: bool,
        db: bool,
        g: bool,
    ) -> Attr {
        Attr(
            (ty as u32 & 0xf)
                | (s as u32) << 4
                | ((dpl as u32) & 3) << 5
                | (p as u32) << 7
                | (avl as u32) << 12
                | (l as u32) << 13
                | (db as u32) << 14
                | (g as u32) << 15,
        )
    }
}

/// A segment register: the visible selector plus the hidden descriptor cache the CPU
/// filled in when the selector was loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    pub selector: u16,
    pub base: u64,
    /// Effective limit in bytes (already scaled by G).
    pub limit: u32,
    pub attr: Attr,
}

impl Segment {
    /// The cache contents after loading a null selector into a data segment register.
    pub fn null(selector: u16) -> Segment {
        Segment {
            selector,
            base: 0,
            limit: 0,
            attr: Attr(Attr::UNUSABLE),
        }
    }

    /// A flat 4 GiB segment as SYSENTER/SYSCALL load it (they do not read the GDT).
    pub fn flat(selector: u16, ty: u8, dpl: u8, db: bool, l: bool) -> Segment {
        Segment {
            selector,
            base: 0,
            limit: 0xffff_ffff,
            attr: Attr::from_fields(ty, true, dpl, true, false, l, db, true),
        }
    }

    pub fn sel(&self) -> Selector {
        Selector(self.selector)
    }
}

/// An 8-byte code/data or system descriptor as it sits in the GDT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    pub fn base(self) -> u64 {
        let d = self.0;
        ((d >> 16) & 0xff_ffff) | (((d >> 56) & 0xff) << 24)
    }
    pub fn raw_limit(self) -> u32 {
        let d = self.0;
        ((d & 0xffff) | (((d >> 48) & 0xf) << 16)) as u32
    }
    pub fn attr(self) -> Attr {
        let d = self.0;
        let access = ((d >> 40) & 0xff) as u32;
        let flags = ((d >> 52) & 0xf) as u32;
        Attr(access | flags << 12)
    }
    /// Limit in bytes after applying granularity.
    pub fn limit(self) -> u32 {
        let raw = self.raw_limit();
        if self.attr().g() {
            (raw << 12) | 0xfff
        } else {
            raw
        }
    }
    pub fn to_segment(self, selector: u16) -> Segment {
        Segment {
            selector,
            base: self.base(),
            limit: self.limit(),
            attr: self.attr(),
        }
    }
    /// Build a descriptor from its fields; `limit` is the raw 20-bit field.
    pub fn encode(base: u32, raw_limit: u32, attr: Attr) -> Descriptor {
        let base = base as u64;
        let limit = raw_limit as u64 & 0xf_ffff;
        let access = (attr.0 & 0xff) as u64;
        let flags = ((attr.0 >> 12) & 0xf) as u64;
        Descriptor(
            (limit & 0xffff)
                | (base & 0xff_ffff) << 16
                | access << 40
                | (limit >> 16) << 48
                | flags << 52
                | (base >> 24) << 56,
        )
    }
    /// In IA-32e mode an LDT, TSS or call-gate descriptor takes 16 bytes: the next GDT
    /// slot holds bits 63:32 of its base (or offset). SDM Vol. 3A, 3.5.2 and 8.2.3.
    pub fn is_wide_in_ia32e(self) -> bool {
        let a = self.attr();
        !a.s() && matches!(a.ty(), 0x2 | 0x9 | 0xb | 0xc)
    }
    /// The 64-bit base of a 16-byte system descriptor whose upper half is `upper`.
    pub fn base64(self, upper: u64) -> u64 {
        self.base() | (upper & 0xffff_ffff) << 32
    }
    /// Set the accessed bit (code/data descriptors), as the CPU does on a load.
    pub fn with_accessed(self) -> Descriptor {
        Descriptor(self.0 | 1 << 40)
    }
}

/// Human-readable name of a descriptor type (SDM Vol. 3A, tables 3-1 and 3-2).
pub fn type_name(attr: Attr) -> &'static str {
    if attr.unusable() {
        return "unusable";
    }
    if attr.s() {
        match attr.ty() & !1 {
            0x0 => "data r/o",
            0x2 => "data r/w",
            0x4 => "data r/o expand-down",
            0x6 => "data r/w expand-down",
            0x8 => "code x/o",
            0xa => "code x/r",
            0xc => "code x/o conforming",
            _ => "code x/r conforming",
        }
    } else {
        match attr.ty() {
            0x1 => "16-bit TSS (available)",
            0x2 => "LDT",
            0x3 => "16-bit TSS (busy)",
            0x4 => "16-bit call gate",
            0x5 => "task gate",
            0x6 => "16-bit interrupt gate",
            0x7 => "16-bit trap gate",
            0x9 => "32/64-bit TSS (available)",
            0xb => "32/64-bit TSS (busy)",
            0xc => "32/64-bit call gate",
            0xe => "32/64-bit interrupt gate",
            0xf => "32/64-bit trap gate",
            _ => "reserved",
        }
    }
}

/// Name of a system descriptor type (S = 0), SDM Vol. 3A table 3-2: the 32-bit column,
/// or with `ia32e` the IA-32e column, where only LDT, 64-bit TSS and 64-bit call,
/// interrupt and trap gates exist and every other type is reserved.
pub fn system_type_name(ty: u8, ia32e: bool) -> &'static str {
    if !ia32e {
        return match ty & 0xf {
            0x1 => "16-bit TSS (available)",
            0x2 => "LDT",
            0x3 => "16-bit TSS (busy)",
            0x4 => "16-bit call gate",
            0x5 => "task gate",
            0x6 => "16-bit interrupt gate",
            0x7 => "16-bit trap gate",
            0x9 => "32-bit TSS (available)",
            0xb => "32-bit TSS (busy)",
            0xc => "32-bit call gate",
            0xe => "32-bit interrupt gate",
            0xf => "32-bit trap gate",
            _ => "reserved",
        };
    }
    match ty & 0xf {
        0x2 => "LDT",
        0x9 => "64-bit TSS (available)",
        0xb => "64-bit TSS (busy)",
        0xc => "64-bit call gate",
        0xe => "64-bit interrupt gate",
        0xf => "64-bit trap gate",
        _ => "reserved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_kernel_code_descriptor_decodes() {
        // 2.6 i386 __KERNEL_CS descriptor with the accessed bit set.
        let d = Descriptor(0x00cf_9b00_0000_ffff);
        let a = d.attr();
        assert_eq!(d.base(), 0);
        assert_eq!(d.limit(), 0xffff_ffff);
        assert!(a.is_code() && a.readable() && a.present() && a.db() && a.g());
        assert_eq!(a.dpl(), 0);
        assert_eq!(type_name(a), "code x/r");
    }

    #[test]
    fn encode_round_trips() {
        let d = Descriptor(0x00cf_f300_0000_ffff);
        assert_eq!(
            Descriptor::encode(d.base() as u32, d.raw_limit(), d.attr()),
            d
        );
        let odd = Descriptor(0x12c3_f2ab_cdef_1234);
        assert_eq!(
            Descriptor::encode(odd.base() as u32, odd.raw_limit(), odd.attr()),
            odd
        );
    }

    #[test]
    fn selector_fields() {
        let s = Selector(0x7b);
        assert_eq!((s.index(), s.ti(), s.rpl()), (15, false, 3));
        assert!(Selector(3).is_null());
        assert!(!Selector(8).is_null());
    }

    #[test]
    fn system_types_by_mode() {
        assert_eq!(system_type_name(0xe, false), "32-bit interrupt gate");
        assert_eq!(system_type_name(0xe, true), "64-bit interrupt gate");
        assert_eq!(system_type_name(0x5, false), "task gate");
        assert_eq!(system_type_name(0x5, true), "reserved");
        assert_eq!(system_type_name(0xb, false), "32-bit TSS (busy)");
        // A 64-bit TSS descriptor: type 9, base 0xffff_fe00_0000_3000, limit 0x67.
        let lo = Descriptor::encode(
            0x0000_3000,
            0x67,
            Attr::from_fields(9, false, 0, true, false, false, false, false),
        );
        assert!(lo.is_wide_in_ia32e());
        assert_eq!(lo.base64(0xffff_fe00), 0xffff_fe00_0000_3000);
        assert_eq!(lo.limit(), 0x67);
        assert!(!Descriptor(0x00cf_9b00_0000_ffff).is_wide_in_ia32e());
    }
}
