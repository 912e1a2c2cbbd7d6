# A user program for the linux-2.6-i386 preset, linked at 0x08048000.
# getpid() the way glibc 2.3+ does it on i386: the TCB word at %gs:0x10
# (tcbhead_t.sysinfo) holds the address of __kernel_vsyscall.
#
# Build: as --32 -o u.o THIS && ld -m elf_i386 -Ttext=0x08048000 --oformat binary -o u.bin u.o

	.code32
	.text
_start:
	movl $20, %eax
	call *%gs:0x10
user_return:
	movl $20, %eax
	int $0x80
user_return_int80:
	jmp user_return_int80
