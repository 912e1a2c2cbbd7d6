#!/usr/bin/env python3
"""Print an ELF's .text as a scenario `bytes = [...]` listing: one string per
instruction with the objdump disassembly as a TOML comment, and a label string
for every symbol. Usage: listing.py FILE.elf [32|64]"""
import re
import subprocess
import sys

elf = sys.argv[1]
out = subprocess.run(["objdump", "-d", "-w", elf], capture_output=True, text=True, check=True).stdout
print("bytes = [")
for line in out.splitlines():
    m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
    if m:
        print(f'  "{m.group(1)}:",')
        continue
    m = re.match(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$", line)
    if m:
        addr, raw, insn = m.groups()
        hexs = raw.replace(" ", "")
        insn = re.sub(r"\s+", " ", insn).strip()
        quoted = '"' + hexs + '",'
        print(f"  {quoted.ljust(26)} # {addr}: {insn}")
print("]")
