//! Multiboot2 kernels, as the Multiboot2 Specification version 2.0
//! (<https://www.gnu.org/software/grub/manual/multiboot2/multiboot.html>) has a boot
//! loader treat them; src/scenario/boot/multiboot.rs does the loading, this file the two structures:
//!
//! - 3.1.1-3.1.2 the header: magic 0xE85250D6, architecture (0: 32-bit protected-mode
//!   i386), header_length, checksum (the four fields add to 0 mod 2^32), 8-aligned within
//!   the first 32768 bytes of the file.
//! - 3.1.3-3.1.13 its tags (type, flags, size; 8-aligned; ended by type 0). Flags bit 0
//!   is "optional": a tag with it set may be ignored by a loader that cannot honour it;
//!   one without it must be honoured or the kernel refused. ringstep honours the entry
//!   address (3), module alignment (6, it loads no modules), an information request (1)
//!   for the tags it builds, the console flags (4) when no console is required, the
//!   relocatable tag (10, by loading at the linked address, which the range allows), and
//!   the EFI tags (7-9, which only an EFI loader acts on). It refuses a required address
//!   tag (2: the a.out-style load addresses; ringstep loads ELF program headers), a
//!   required framebuffer (5: it has no display), a console requirement (4 with bit 0),
//!   and any required tag type the specification does not define.
//! - 3.6 the boot information: 8-aligned, total_size and reserved, then 8-aligned tags:
//!   the command line (type 1), the boot loader's name (2), basic memory information
//!   (4), the memory map (6, entries of 24 bytes, version 0), and the end tag (0).

use super::LoadError;

/// The Multiboot2 header's magic number (3.1.2).
pub const HEADER_MAGIC: u32 = 0xE852_50D6;
/// What EAX holds at the kernel's entry (3.3).
pub const BOOT_MAGIC: u32 = 0x36D7_6289;
/// The header lies within this many bytes at the start of the file (3.1.1).
pub const SEARCH: usize = 32768;
/// Architecture 0: i386 32-bit protected mode (3.1.2).
const ARCH_I386: u32 = 0;
/// Tags read from one header at most (a header is at most `SEARCH` bytes anyway).
const MAX_TAGS: usize = 512;

/// The information tag types ringstep builds (3.6): command line, boot loader name,
/// basic memory information, memory map (and the end tag).
pub const PROVIDED: [u32; 5] = [0, 1, 2, 4, 6];

/// A Multiboot2 header found in a file, its tags understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// File offset of the magic number.
    pub offset: usize,
    pub length: u32,
    /// The entry address tag's (3.1.6), which replaces the ELF entry point.
    pub entry: Option<u64>,
    /// Optional tags ringstep leaves unhonoured: (name, file offset).
    pub ignored: Vec<(&'static str, usize)>,
}

fn word(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[at..at + 4]);
    u32::from_le_bytes(b)
}

/// The name of header tag type `ty` (3.1.3-3.1.13).
pub fn tag_name(ty: u16) -> &'static str {
    match ty {
        0 => "end tag",
        1 => "information request tag (type 1)",
        2 => "address tag (type 2)",
        3 => "entry address tag (type 3)",
        4 => "console flags tag (type 4)",
        5 => "framebuffer tag (type 5)",
        6 => "module alignment tag (type 6)",
        7 => "EFI boot services tag (type 7)",
        8 => "EFI i386 entry address tag (type 8)",
        9 => "EFI amd64 entry address tag (type 9)",
        10 => "relocatable header tag (type 10)",
        _ => "tag of a type the specification does not define",
    }
}

/// Find the Multiboot2 header in the first 32768 bytes (8-aligned): the first magic
/// number whose checksum holds (as a boot loader scans, passing over the number where it
/// is only data). Ok(None): no magic number there. Errors, naming the file offset:
/// magic numbers that all have a bad checksum, and a header with a bad architecture or
/// length or a required tag ringstep cannot honour.
pub fn find_header(data: &[u8], origin: &str) -> Result<Option<Header>, LoadError> {
    let end = data.len().min(SEARCH);
    let mut bad = None;
    let mut at = 0;
    while at + 16 <= end {
        if word(data, at) == HEADER_MAGIC {
            let (arch, length, sum) = (word(data, at + 4), word(data, at + 8), word(data, at + 12));
            let total = HEADER_MAGIC
                .wrapping_add(arch)
                .wrapping_add(length)
                .wrapping_add(sum);
            if total == 0 {
                return check(data, at, origin).map(Some);
            }
            bad.get_or_insert((at, arch, length, sum));
        }
        at += 8;
    }
    match bad {
        None => Ok(None),
        Some((at, arch, length, sum)) => {
            let want = 0u32
                .wrapping_sub(HEADER_MAGIC)
                .wrapping_sub(arch)
                .wrapping_sub(length);
            Err(LoadError::new(origin, format!("Multiboot2 header at file offset {at:#x}: checksum {sum:#010x} does not add to 0 with magic, architecture and header_length (it must be {want:#010x}; Multiboot2 spec 3.1.2)")))
        }
    }
}

/// The header at `at`, its checksum already found good.
fn check(data: &[u8], at: usize, origin: &str) -> Result<Header, LoadError> {
    let fail = |what: String| {
        LoadError::new(
            origin,
            format!("Multiboot2 header at file offset {at:#x}: {what}"),
        )
    };
    let (arch, length) = (word(data, at + 4), word(data, at + 8));
    if arch != ARCH_I386 {
        return Err(fail(format!("architecture {arch} is not 0 (i386 protected mode), the only one ringstep boots (Multiboot2 spec 3.1.2)")));
    }
    let len = length as usize;
    if len < 24 || at + len > data.len() || len > SEARCH {
        return Err(fail(format!("header_length {length} does not fit: the header is 16 bytes and at least an 8-byte end tag, within the file and {SEARCH} bytes (Multiboot2 spec 3.1.2)")));
    }
    let mut h = Header {
        offset: at,
        length,
        entry: None,
        ignored: Vec::new(),
    };
    read_tags(&data[at..at + len], at, &mut h).map_err(fail)?;
    Ok(h)
}

/// Walk the tags of the header `bytes` (at file offset `base`).
fn read_tags(bytes: &[u8], base: usize, h: &mut Header) -> Result<(), String> {
    let mut off = 16;
    for _ in 0..MAX_TAGS {
        if off + 8 > bytes.len() {
            return Err(format!("the tags run past header_length {} without an end tag (type 0, size 8; Multiboot2 spec 3.1.3)", bytes.len()));
        }
        let head = word(bytes, off);
        let (ty, flags) = (head as u16, (head >> 16) as u16);
        let size = word(bytes, off + 4) as usize;
        let file_at = base + off;
        if size < 8 || off + size > bytes.len() {
            return Err(format!("the {} at file offset {file_at:#x} has size {size}, which does not fit in the header (Multiboot2 spec 3.1.3)", tag_name(ty)));
        }
        if ty == 0 {
            return Ok(());
        }
        let optional = flags & 1 != 0;
        let body = &bytes[off + 8..off + size];
        match honour(ty, body) {
            Ok(Some(entry)) => h.entry = Some(entry),
            Ok(None) => {}
            Err(_) if optional => h.ignored.push((tag_name(ty), file_at)),
            Err(why) => {
                return Err(format!("the {} at file offset {file_at:#x} is required (flags bit 0, optional, is clear) and {why}; set its optional flag or leave it out", tag_name(ty)));
            }
        }
        off += (size + 7) & !7;
    }
    Err(format!("more than {MAX_TAGS} tags"))
}

/// Whether ringstep can honour a header tag: Ok(Some(entry)) for the entry address tag,
/// Ok(None) for others it honours, Err(why not).
fn honour(ty: u16, body: &[u8]) -> Result<Option<u64>, String> {
    let need = |n: usize| {
        if body.len() < n {
            Err(format!(
                "is too short ({} bytes of fields, {n} needed)",
                body.len()
            ))
        } else {
            Ok(())
        }
    };
    match ty {
        1 => {
            for i in 0..body.len() / 4 {
                let asked = word(body, i * 4);
                if !PROVIDED.contains(&asked) {
                    return Err(format!("asks for boot information tag type {asked}, which ringstep does not build (it builds types 1, 2, 4 and 6; Multiboot2 spec 3.1.4)"));
                }
            }
            Ok(None)
        }
        2 => Err("gives load addresses (a.out style), which ringstep does not support: it loads ELF kernels by their program headers (Multiboot2 spec 3.1.5)".into()),
        3 => need(4).map(|_| Some(word(body, 0) as u64)),
        4 => {
            need(4)?;
            if word(body, 0) & 1 != 0 {
                Err("requires a console (console_flags bit 0), and ringstep has only a serial UART, no console the specification describes (Multiboot2 spec 3.1.9)".into())
            } else {
                Ok(None)
            }
        }
        5 => Err("asks for a framebuffer, and ringstep has no display (Multiboot2 spec 3.1.10)".into()),
        6..=10 => Ok(None),
        _ => Err("ringstep does not know what it asks for (Multiboot2 spec 3.1.3)".into()),
    }
}

/// Append a boot information tag (type, contents), padded to 8 bytes.
fn push_tag(out: &mut Vec<u8>, ty: u32, body: &[u8]) {
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// A NUL-terminated string of at most `max` bytes (the NUL included).
fn c_string(s: &str, max: usize) -> Vec<u8> {
    let mut b: Vec<u8> = s.bytes().filter(|&c| c != 0).take(max - 1).collect();
    b.push(0);
    b
}

/// The boot information structure (3.6): command line, boot loader name, basic memory
/// information (KiB below 1 MiB, KiB from 1 MiB), the memory map (base, length, type)
/// and the end tag. The command line is cut to keep the whole within `limit` bytes.
pub fn build_info(
    cmdline: &str,
    loader: &str,
    (mem_lower, mem_upper): (u32, u32),
    map: &[(u64, u64, u32)],
    limit: usize,
) -> Vec<u8> {
    let mut tags = Vec::new();
    let name = c_string(loader, 256);
    push_tag(&mut tags, 2, &name);
    let mut basic = Vec::new();
    basic.extend_from_slice(&mem_lower.to_le_bytes());
    basic.extend_from_slice(&mem_upper.to_le_bytes());
    push_tag(&mut tags, 4, &basic);
    let mut mmap = Vec::new();
    mmap.extend_from_slice(&24u32.to_le_bytes());
    mmap.extend_from_slice(&0u32.to_le_bytes());
    for &(base, len, ty) in map {
        mmap.extend_from_slice(&base.to_le_bytes());
        mmap.extend_from_slice(&len.to_le_bytes());
        mmap.extend_from_slice(&ty.to_le_bytes());
        mmap.extend_from_slice(&0u32.to_le_bytes());
    }
    push_tag(&mut tags, 6, &mmap);
    // The fixed part, the command line's header and padding, and the end tag.
    let room = limit.saturating_sub(tags.len() + 8 + 8 + 7 + 8).max(1);
    let mut out = vec![0u8; 8];
    push_tag(&mut out, 1, &c_string(cmdline, room));
    out.extend_from_slice(&tags);
    push_tag(&mut out, 0, &[]);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header at `at` with the given tags (type, flags, body), end tag added.
    fn header(at: usize, tags: &[(u16, u16, Vec<u8>)]) -> Vec<u8> {
        let mut t = Vec::new();
        for (ty, flags, body) in tags {
            t.extend_from_slice(&(*ty as u32 | (*flags as u32) << 16).to_le_bytes());
            t.extend_from_slice(&(8 + body.len() as u32).to_le_bytes());
            t.extend_from_slice(body);
            while t.len() % 8 != 0 {
                t.push(0);
            }
        }
        t.extend_from_slice(&[0, 0, 0, 0, 8, 0, 0, 0]);
        let len = 16 + t.len() as u32;
        let mut d = vec![0u8; at];
        for v in [HEADER_MAGIC, 0, len, 0u32.wrapping_sub(HEADER_MAGIC + len)] {
            d.extend_from_slice(&v.to_le_bytes());
        }
        d.extend_from_slice(&t);
        d
    }

    #[test]
    fn a_header_is_found_8_aligned_in_the_first_32k_and_its_entry_tag_read() {
        let h = header(0x1000, &[(3, 0, 0x10_0040u32.to_le_bytes().to_vec())]);
        let got = find_header(&h, "k").unwrap().unwrap();
        assert_eq!((got.offset, got.entry), (0x1000, Some(0x10_0040)));
        assert_eq!(find_header(&header(0x1004, &[]), "k").unwrap(), None);
        assert_eq!(find_header(&header(SEARCH, &[]), "k").unwrap(), None);
        // An optional tag ringstep cannot honour is passed over, and said so.
        let fb = header(8, &[(5, 1, vec![0; 12])]);
        let got = find_header(&fb, "k").unwrap().unwrap();
        assert_eq!(got.ignored, vec![(tag_name(5), 0x18)]);
    }

    #[test]
    fn bad_headers_and_required_tags_ringstep_cannot_meet_are_refused_with_the_offset() {
        let mut bad = header(0x40, &[]);
        bad[0x4c] ^= 1;
        let e = find_header(&bad, "k.elf").unwrap_err().0;
        // A good header after the bad magic number is found.
        let mut later = bad.clone();
        later.extend_from_slice(&header(0, &[])[..]);
        assert_eq!(find_header(&later, "k").unwrap().unwrap().offset, bad.len());
        assert!(
            e.starts_with("k.elf: Multiboot2 header at file offset 0x40: checksum"),
            "{e}"
        );
        let fb = find_header(&header(0, &[(5, 0, vec![0; 12])]), "k")
            .unwrap_err()
            .0;
        assert!(
            fb.contains("framebuffer tag (type 5) at file offset 0x10 is required"),
            "{fb}"
        );
        let req = find_header(&header(0, &[(1, 0, 8u32.to_le_bytes().to_vec())]), "k")
            .unwrap_err()
            .0;
        assert!(req.contains("information tag type 8"), "{req}");
        let ok = header(
            0,
            &[(
                1,
                0,
                [1u32, 6].iter().flat_map(|v| v.to_le_bytes()).collect(),
            )],
        );
        assert!(find_header(&ok, "k").is_ok());
        let addr = find_header(&header(0, &[(2, 0, vec![0; 16])]), "k")
            .unwrap_err()
            .0;
        assert!(addr.contains("address tag (type 2)"), "{addr}");
        let unknown = find_header(&header(0, &[(77, 0, vec![])]), "k")
            .unwrap_err()
            .0;
        assert!(unknown.contains("does not define"), "{unknown}");
        let mut arch = header(0, &[]);
        arch[4] = 4;
        arch[12..16].copy_from_slice(&0u32.wrapping_sub(HEADER_MAGIC + 4 + 24).to_le_bytes());
        let e = find_header(&arch, "k").unwrap_err().0;
        assert!(e.contains("architecture 4"), "{e}");
        // No end tag within header_length.
        let mut open = header(0, &[]);
        open.truncate(16);
        open.extend_from_slice(&[6, 0, 0, 0, 8, 0, 0, 0]);
        open[8..12].copy_from_slice(&24u32.to_le_bytes());
        open[12..16].copy_from_slice(&0u32.wrapping_sub(HEADER_MAGIC + 24).to_le_bytes());
        let e = find_header(&open, "k").unwrap_err().0;
        assert!(e.contains("without an end tag"), "{e}");
    }

    #[test]
    fn the_boot_information_is_8_aligned_tags_with_its_total_size() {
        let map = [(0, 0xa0000, 1), (0x100000, 0x7f00000, 1)];
        let info = build_info("k.elf", "ringstep", (640, 130048), &map, 4096);
        assert_eq!(word(&info, 0) as usize, info.len());
        assert_eq!(info.len() % 8, 0);
        let mut at = 8;
        let mut types = Vec::new();
        while at < info.len() {
            let (ty, size) = (word(&info, at), word(&info, at + 4) as usize);
            types.push(ty);
            if ty == 6 {
                assert_eq!((word(&info, at + 8), word(&info, at + 12)), (24, 0));
                assert_eq!(size, 16 + 24 * map.len());
            }
            at += (size + 7) & !7;
        }
        assert_eq!(types, vec![1, 2, 4, 6, 0]);
        let long = "x".repeat(10_000);
        assert!(build_info(&long, "r", (1, 2), &map, 4096).len() <= 4096);
    }
}
