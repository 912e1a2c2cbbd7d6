# A user program for the linux-x86_64 preset, linked at 0x401000.
# getpid() as glibc does it: number in %eax, SYSCALL.
#
# Build: as --64 -o u.o THIS && ld -m elf_x86_64 -Ttext=0x401000 -o u.elf u.o

	.code64
	.text
_start:
	movl $39, %eax
	syscall
user_return:
	jmp user_return
