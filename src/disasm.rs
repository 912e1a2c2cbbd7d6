//! Disassembly text from iced-x86's formatters (AT&T/GAS and Intel syntax), with branch
//! targets and memory displacements named from the machine's symbols.

use iced_x86::{
    Formatter, GasFormatter, Instruction, IntelFormatter, OpKind, SymbolResolver, SymbolResult,
};

use crate::machine::Symbols;

/// Assembly syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Syntax {
    /// AT&T (GNU as), the syntax of the kernel's .S files.
    #[default]
    Att,
    Intel,
}

struct Names(Symbols);

impl SymbolResolver for Names {
    fn symbol(
        &mut self,
        instruction: &Instruction,
        operand: u32,
        _instruction_operand: Option<u32>,
        address: u64,
        _address_size: u32,
    ) -> Option<SymbolResult<'_>> {
        // Small constants (like 0x10 in %gs:0x10) stay numbers.
        if address < 0x1000 {
            return None;
        }
        if let Some(name) = self.0.name_at(address) {
            return Some(SymbolResult::with_string(address, name.to_string()));
        }
        // A branch target inside a routine is named like objdump does: `symbol+0x3`.
        let branch = matches!(
            instruction.op_kind(operand),
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
        );
        if !branch {
            return None;
        }
        let (name, off) = self.0.nearest(address, 0x400)?;
        Some(SymbolResult::with_string(address - off, name.to_string()))
    }
}

pub struct Disassembler {
    formatter: Box<dyn Formatter>,
    out: String,
}

impl Disassembler {
    pub fn new(symbols: &Symbols, syntax: Syntax) -> Disassembler {
        let resolver: Box<dyn SymbolResolver> = Box::new(Names(symbols.clone()));
        let mut formatter: Box<dyn Formatter> = match syntax {
            Syntax::Att => Box::new(GasFormatter::with_options(Some(resolver), None)),
            Syntax::Intel => Box::new(IntelFormatter::with_options(Some(resolver), None)),
        };
        let o = formatter.options_mut();
        o.set_uppercase_hex(false);
        o.set_hex_prefix("0x");
        o.set_hex_suffix("");
        o.set_space_after_operand_separator(false);
        o.set_branch_leading_zeros(false);
        Disassembler {
            formatter,
            out: String::new(),
        }
    }

    pub fn format(&mut self, instr: &Instruction) -> String {
        self.out.clear();
        self.formatter.format(instr, &mut self.out);
        // iced spells near indirect branches `calll *x`/`jmpl *x`; GNU as and the
        // kernel sources write `call *x`, which is what students will compare against.
        for (long, short) in [
            ("calll *", "call *"),
            ("jmpl *", "jmp *"),
            ("callq *", "call *"),
            ("jmpq *", "jmp *"),
        ] {
            if let Some(rest) = self.out.strip_prefix(long) {
                return format!("{short}{rest}");
            }
        }
        self.out.clone()
    }
}

/// Bytes as lowercase hex without separators ("0f34").
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes as lowercase hex pairs separated by spaces ("0f 34").
pub fn hex_spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parse hex text: pairs of digits, optionally separated by whitespace. Errors name the
/// offending position.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .collect();
    if let Some((i, c)) = digits.iter().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!("`{c}` at column {} is not a hex digit", i + 1));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!(
            "odd number of hex digits ({}): each byte needs two",
            digits.len()
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|p| {
            let hi = p[0].1.to_digit(16).unwrap_or(0);
            let lo = p[1].1.to_digit(16).unwrap_or(0);
            (hi * 16 + lo) as u8
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Decoder, DecoderOptions};

    fn dis(bytes: &[u8], syntax: Syntax) -> String {
        let mut s = Symbols::new();
        s.insert("sys_call_table", 0xc030_0000);
        let i = Decoder::with_ip(32, bytes, 0xc010_0000, DecoderOptions::NONE).decode();
        Disassembler::new(&s, syntax).format(&i)
    }

    #[test]
    fn att_and_intel() {
        assert_eq!(dis(&[0x89, 0xe5], Syntax::Att), "mov %esp,%ebp");
        assert_eq!(dis(&[0x89, 0xe5], Syntax::Intel), "mov ebp,esp");
        assert_eq!(dis(&[0x0f, 0x34], Syntax::Att), "sysenter");
    }

    #[test]
    fn symbols_in_operands() {
        assert_eq!(
            dis(&[0xff, 0x14, 0x85, 0x00, 0x00, 0x30, 0xc0], Syntax::Att),
            "call *sys_call_table(,%eax,4)"
        );
        assert_eq!(
            dis(&[0x65, 0xff, 0x15, 0x10, 0, 0, 0], Syntax::Att),
            "call *%gs:0x10"
        );
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(parse_hex("51 52 0f34"), Ok(vec![0x51, 0x52, 0x0f, 0x34]));
        assert!(parse_hex("5").unwrap_err().contains("odd"));
        assert!(parse_hex("zz").unwrap_err().contains("column 1"));
    }
}
