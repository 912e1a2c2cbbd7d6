# The sysenter vsyscall page text of Linux 2.6.15
# (arch/i386/kernel/vsyscall-sysenter.S), linked at 0xffffe400
# (VSYSCALL_BASE + 0x400, arch/i386/kernel/vsyscall.lds.S).
#
# Build: as --32 -o v.o THIS && ld -m elf_i386 -Ttext=0xffffe400 --oformat binary -o v.bin v.o

	.code32
	.text
__kernel_vsyscall:
	push %ecx
	push %edx
	push %ebp
.Lenter_kernel:
	movl %esp, %ebp
	sysenter
	.space 7, 0x90
	jmp .Lenter_kernel
SYSENTER_RETURN:
	pop %ebp
	pop %edx
	pop %ecx
	ret
