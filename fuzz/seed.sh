#!/usr/bin/env bash
# Build the seed corpus of every fuzz target from the files ringstep ships, into
# fuzz/corpus/<target>/ (not committed: cargo fuzz adds what it finds there).
#   lesson:        lessons/*.toml, tests/fixtures/lessons/**.toml
#   scenario:      assets/presets/*.toml, tests/fixtures/scenarios/*.toml
#   asm:           lessons/src/*.S, assets/presets/src/*.S, tests/fixtures/{asm,load}/**.S
#   elf:           the test fixtures assembled and linked with GNU as/ld (objects,
#                  executables, the vdso32.so shared object), when as/ld are installed
#   debug_command: the commands and examples of docs/debugging.md
#   engine:        the machine code of the .S fixtures (assembled with GNU as), and a
#                  few hand-made seeds (int $0x80, sysenter, syscall, a loop, a fault)
set -euo pipefail
cd "$(dirname "$0")"
root=..
corpus=corpus
mkdir -p "$corpus"/{lesson,scenario,asm,elf,debug_command,engine}

cp "$root"/lessons/*.toml "$corpus/lesson/"
find "$root/tests/fixtures/lessons" -name '*.toml' -exec cp {} "$corpus/lesson/" \;
cp "$root"/assets/presets/*.toml "$corpus/scenario/"
cp "$root"/tests/fixtures/scenarios/*.toml "$corpus/scenario/"
for f in "$root"/lessons/src/*.S "$root"/assets/presets/src/*.S; do
    cp "$f" "$corpus/asm/"
done
find "$root/tests/fixtures/asm" "$root/tests/fixtures/load" -name '*.S' -exec cp {} "$corpus/asm/" \;

# Debugger commands: the table's commands (inside backticks in the first column) and
# the examples' command lines (`: CMD` in code blocks), one file each, plus one file
# with every example line in order (a session).
n=0
grep -o '^| `[^`]*`' "$root/docs/debugging.md" | sed 's/^| `//; s/`$//' |
    while IFS= read -r cmd; do
        n=$((n + 1))
        printf '%s\n' "$cmd" >"$corpus/debug_command/table-$n"
    done
grep '^: ' "$root/docs/debugging.md" | sed 's/^: //' >"$corpus/debug_command/session"
grep '^: ' "$root/docs/debugging.md" | sed 's/^: //' | nl -ba -w1 -s' ' |
    while read -r i cmd; do printf '%s\n' "$cmd" >"$corpus/debug_command/example-$i"; done
for cmd in "break sysenter_entry" "watch mem esp-4,8" "x/8w esp" "break syscall_call if eax == 20" \
    "until fault" "reverse-step 3" "goto 10" "set reg ah 1" "info timeline" "watch msr 0x174"; do
    n=$((n + 1))
    printf '%s\n' "$cmd" >"$corpus/debug_command/extra-$n"
done

# ELF files and raw machine code, built with GNU binutils when they are there.
if command -v as >/dev/null && command -v ld >/dev/null && command -v objcopy >/dev/null; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    for src in "$root"/tests/fixtures/asm/*.S; do
        name=$(basename "$src" .S)
        case "$name" in *64) bits=64 emu=elf_x86_64 ;; *) bits=32 emu=elf_i386 ;; esac
        as --"$bits" -o "$tmp/$name.o" "$src" 2>/dev/null || continue
        cp "$tmp/$name.o" "$corpus/elf/$name.o"
        if ld -m "$emu" -nostdlib -e 0 -o "$tmp/$name.elf" "$tmp/$name.o" 2>/dev/null; then
            cp "$tmp/$name.elf" "$corpus/elf/$name.elf"
        fi
        objcopy -O binary -j .text "$tmp/$name.o" "$tmp/$name.bin" 2>/dev/null || continue
        # The engine target's first byte picks the preset: even 32-bit, odd 64-bit.
        if [ "$bits" = 64 ]; then printf '\001' >"$corpus/engine/$name"; else printf '\000' >"$corpus/engine/$name"; fi
        head -c 4096 "$tmp/$name.bin" >>"$corpus/engine/$name"
    done
    as --32 --defsym ALT_BYTES=14 -o "$tmp/vdso.o" "$root/tests/fixtures/load/vdso32.S"
    ld -m elf_i386 -shared -z noseparate-code -z norelro --hash-style=sysv \
        -o "$corpus/elf/vdso32.so" "$tmp/vdso.o"
else
    echo "seed.sh: GNU as/ld not found; the elf and engine targets start from no seed" >&2
fi
# A few hand-made machine-code seeds: int $0x80, sysenter, syscall, a loop, a fault.
printf '\000\270\024\000\000\000\315\200' >"$corpus/engine/int80-getpid"
printf '\000\211\345\017\064' >"$corpus/engine/sysenter"
printf '\001\270\047\000\000\000\017\005' >"$corpus/engine/syscall-getpid"
printf '\000\061\311\101\353\375' >"$corpus/engine/loop"
printf '\000\061\300\213\000' >"$corpus/engine/null-deref"
for t in lesson scenario asm elf debug_command engine; do
    echo "$t: $(find "$corpus/$t" -type f | wc -l) seeds"
done
