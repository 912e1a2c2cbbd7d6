# kernel64.S - ringstep's example kernel, 64-bit (a Multiboot version 1 ELF32).
#
# A Multiboot loader starts it in 32-bit protected mode, paging off. The 32-bit part
#   1. fills in a GDT (64-bit kernel code, kernel data, user code/data, a 16-byte TSS
#      descriptor), the 64-bit TSS (RSP0) and an IDT of 16-byte gates (vectors 0-31 to a
#      handler that prints the vector and the error code and ends the run; vector 0x80
#      a gate user code may use);
#   2. builds 4-level page tables (PML4 -> PDPT -> PD -> PT): the kernel for ring 0 only,
#      one page with U/S = 1 for the user program;
#   3. enables PAE (CR4), sets EFER.LME and EFER.SCE, enables paging (CR0.PG): the CPU
#      is now in IA-32e mode, still running 32-bit code (compatibility mode);
#   4. far-jumps to a 64-bit code segment (L = 1).
# The 64-bit part loads TR and IDTR, writes STAR/LSTAR/SFMASK and IA32_KERNEL_GS_BASE for
# `syscall`, prints a banner and drops to ring 3 with `iretq`. The user program calls
# write() through `int $0x80`, write() through `syscall` (back by `sysretq`), and exit().
# Both entries take Linux x86-64 numbers: RAX = 1 write(RDI, RSI, RDX), 60 exit(RDI).
#
# Assemble: `ringstep asm --example 64 -o kernel64.elf`, or with binutils:
#   as --32 -o k.o kernel64.S && ld -m elf_i386 -Ttext=0x100000 -e _start -o k.elf k.o
# Run: `ringstep boot --example 64`, or
#   qemu-system-x86_64 -kernel k.elf -serial stdio -display none \
#     -device isa-debug-exit,iobase=0xf4,iosize=0x04
# (64-bit code in an ELF32 object: addresses are written as 32-bit immediates moved into
# registers, which zero-extend; the kernel lies below 4 GiB.)

	.code32

	.set MB_MAGIC, 0x1BADB002
	.set MB_FLAGS, 0x00000003
	.set KERNEL_CS, 0x08               # 64-bit code, DPL 0
	.set KERNEL_DS, 0x10               # data, DPL 0 (SYSCALL: SS = STAR[47:32] + 8)
	.set USER32_CS, 0x1b               # 32-bit code, DPL 3 (STAR[63:48])
	.set USER_DS, 0x23                 # data, DPL 3 (SYSRET: SS = STAR[63:48] + 8)
	.set USER_CS, 0x2b                 # 64-bit code, DPL 3 (SYSRET: CS = STAR[63:48] + 16)
	.set TSS_SEL, 0x30                 # 16 bytes: entries 6 and 7
	.set COM1, 0x3f8
	.set EXIT_PORT, 0xf4
	.set SYS_WRITE, 1                  # Linux x86-64 system call numbers
	.set SYS_EXIT, 60
	.set ERRCODE_VECTORS, 0x00227d00   # vectors that push an error code: 8, 10-14, 17, 21

multiboot_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.globl _start
_start:
	movl $kernel_stack_top, %esp
	call setup_tss
	call setup_idt
	call setup_paging
	lgdt gdt_ptr
	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                    # CR4.PAE: 64-bit page table entries
	movl %eax, %cr4
	movl $0xc0000080, %ecx             # IA32_EFER
	rdmsr
	orl $0x101, %eax                   # LME (long mode enable), SCE (syscall enable)
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax              # CR0.PG: with LME set, IA-32e mode is active
	movl %eax, %cr0
	ljmp $KERNEL_CS, $long_start       # a code segment with L = 1: 64-bit mode

# The 64-bit TSS: RSP0 at offset 4 is the stack of an interrupt from ring 3.
setup_tss:
	movl $kernel_stack_top, tss + 4
	movl $tss, %eax
	movw %ax, gdt_tss + 2
	shrl $16, %eax
	movb %al, gdt_tss + 4
	movb %ah, gdt_tss + 7
	ret

# The IDT: 16-byte 64-bit interrupt gates (type 0xE).
setup_idt:
	movl $exception_stubs, %edx
	xorl %ecx, %ecx
1:	movl %edx, %eax
	movl $0x8e00, %ebx                 # present, DPL 0
	call set_gate
	addl $8, %edx
	incl %ecx
	cmpl $32, %ecx
	jne 1b
	movl $int80_entry, %eax
	movl $0x80, %ecx
	movl $0xee00, %ebx                 # present, DPL 3
	call set_gate
	ret

# set_gate: vector ECX, handler EAX (below 4 GiB: offset 63..32 stays 0), type in BH.
set_gate:
	movl %ecx, %edi
	shll $4, %edi
	addl $idt, %edi
	movw %ax, (%edi)                   # offset 15..0
	movw $KERNEL_CS, 2(%edi)           # selector
	movw %bx, 4(%edi)                  # IST 0, then P, DPL, type
	shrl $16, %eax
	movw %ax, 6(%edi)                  # offset 31..16
	ret

# 4-level paging: one table at each level covers the first 2 MiB.
setup_paging:
	movl $pdpt + 7, pml4               # present, writable, user at every upper level:
	movl $pd + 7, pdpt                 #   the page table entries decide
	movl $page_table + 7, pd
	movl $multiboot_header, %eax
1:	movl %eax, %edx
	orl $3, %edx                       # present, writable, supervisor
	call set_pte
	addl $0x1000, %eax
	cmpl $kernel_end, %eax
	jb 1b
	movl $user_page, %eax
	movl %eax, %edx
	orl $7, %edx                       # present, writable, user
	call set_pte
	ret

# set_pte: the entry for address EAX (in the first 2 MiB) becomes EDX (high half 0).
set_pte:
	movl %eax, %ebx
	shrl $12, %ebx
	andl $0x1ff, %ebx
	movl %edx, page_table(,%ebx,8)
	ret

	.code64
long_start:
	movw $KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $TSS_SEL, %ax
	ltr %ax
	movl $idt_ptr, %eax
	lidt (%rax)
	xorl %edx, %edx
	movl $0xc0000081, %ecx             # STAR: SYSCALL CS (47:32), SYSRET base (63:48)
	movl $(USER32_CS << 16) | KERNEL_CS, %edx
	xorl %eax, %eax
	wrmsr
	movl $0xc0000082, %ecx             # LSTAR: the 64-bit SYSCALL entry
	movl $syscall_entry, %eax
	xorl %edx, %edx
	wrmsr
	movl $0xc0000084, %ecx             # SFMASK: RFLAGS bits SYSCALL clears (TF, IF, DF)
	movl $0x700, %eax
	wrmsr
	movl $0xc0000102, %ecx             # IA32_KERNEL_GS_BASE: what SWAPGS brings in
	movl $percpu, %eax
	wrmsr
	movl $banner, %esi
	call puts

	# To ring 3: IRETQ pops RIP, CS, RFLAGS, RSP, SS.
	pushq $USER_DS                     # SS
	movl $user_stack_top, %eax
	pushq %rax                         # RSP
	pushq $0x002                       # RFLAGS: interrupts stay off
	pushq $USER_CS                     # CS
	movl $user_start, %eax
	pushq %rax                         # RIP
	iretq

# int $0x80: the CPU switched to TSS.RSP0 and pushed SS, RSP, RFLAGS, CS, RIP.
int80_entry:
	call do_syscall
	iretq

# syscall: RCX = the user's RIP, R11 its RFLAGS, RSP still the user's stack.
syscall_entry:
	swapgs                             # GS.base = percpu
	movq %rsp, %gs:0                   # the user's stack pointer
	movq %gs:8, %rsp                   # the kernel's
	pushq %rcx
	pushq %r11
	call do_syscall
	popq %r11
	popq %rcx
	movq %gs:0, %rsp
	swapgs
	sysretq

# do_syscall: number in RAX, arguments in RDI, RSI, RDX; the result in RAX.
do_syscall:
	cmpl $SYS_WRITE, %eax
	je sys_write
	cmpl $SYS_EXIT, %eax
	je sys_exit
	movq $-38, %rax                    # -ENOSYS
	ret

sys_write:
	pushq %rsi
	pushq %rcx
	movq %rdx, %rcx
	call put_buf
	popq %rcx
	popq %rsi
	movq %rdx, %rax
	ret

sys_exit:
	movl %edi, %eax
	outb %al, $EXIT_PORT
	jmp halt

.macro exception_stub vector
	.balign 8
	pushq $\vector
	jmp exception
.endm
	.balign 8
exception_stubs:
	exception_stub 0
	exception_stub 1
	exception_stub 2
	exception_stub 3
	exception_stub 4
	exception_stub 5
	exception_stub 6
	exception_stub 7
	exception_stub 8
	exception_stub 9
	exception_stub 10
	exception_stub 11
	exception_stub 12
	exception_stub 13
	exception_stub 14
	exception_stub 15
	exception_stub 16
	exception_stub 17
	exception_stub 18
	exception_stub 19
	exception_stub 20
	exception_stub 21
	exception_stub 22
	exception_stub 23
	exception_stub 24
	exception_stub 25
	exception_stub 26
	exception_stub 27
	exception_stub 28
	exception_stub 29
	exception_stub 30
	exception_stub 31

# Any exception: print "exception V error E" and exit with status 0x40 | V.
exception:
	movq (%rsp), %rcx                  # the vector the stub pushed
	xorl %edx, %edx
	movl $ERRCODE_VECTORS, %eax
	btl %ecx, %eax
	jnc 1f
	movq 8(%rsp), %rdx                 # the error code the CPU pushed
1:	movl $msg_exception, %esi
	call puts
	movl %ecx, %eax
	call put_hex
	movl $msg_error, %esi
	call puts
	movl %edx, %eax
	call put_hex
	movb $'\n', %al
	call putc
	movb %cl, %al
	orb $0x40, %al
	outb %al, $EXIT_PORT
halt:
	hlt
	jmp halt

putc:
	pushq %rdx
	pushq %rax
	movw $COM1 + 5, %dx
1:	inb %dx, %al
	testb $0x20, %al
	jz 1b
	popq %rax
	movw $COM1, %dx
	outb %al, %dx
	popq %rdx
	ret

puts:
	pushq %rax
1:	movb (%rsi), %al
	testb %al, %al
	jz 2f
	call putc
	incq %rsi
	jmp 1b
2:	popq %rax
	ret

put_buf:
	testq %rcx, %rcx
	jz 2f
1:	movb (%rsi), %al
	call putc
	incq %rsi
	decq %rcx
	jnz 1b
2:	ret

put_hex:
	pushq %rbx
	pushq %rcx
	pushq %rdi
	movl %eax, %ebx
	movl $8, %ecx
	movl $hex_digits, %edi
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $0xf, %eax
	movb (%rdi,%rax), %al
	call putc
	decl %ecx
	jnz 1b
	popq %rdi
	popq %rcx
	popq %rbx
	ret

banner:
	.asciz "kernel64: ring 0, long mode\n"
msg_exception:
	.asciz "exception "
msg_error:
	.asciz " error "
hex_digits:
	.ascii "0123456789abcdef"

	.balign 8
gdt:
	.quad 0                            # 0x00: null
	.quad 0x00af9a000000ffff           # 0x08: kernel code, 64-bit (L = 1), DPL 0
	.quad 0x00cf92000000ffff           # 0x10: kernel data, DPL 0
	.quad 0x00cffa000000ffff           # 0x18: user code, 32-bit, DPL 3 (unused)
	.quad 0x00cff2000000ffff           # 0x20: user data, DPL 3
	.quad 0x00affa000000ffff           # 0x28: user code, 64-bit, DPL 3
gdt_tss:
	.word 103, 0                       # 0x30: the TSS, limit 103, base set at run time
	.byte 0, 0x89, 0, 0                #   present, DPL 0, type 9 (64-bit TSS, available)
	.long 0, 0                         #   base 63..32, reserved
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
idt_ptr:
	.word 256 * 16 - 1
	.long idt, 0                       # (an ELF32 object has no 64-bit relocations)

	.balign 16
idt:
	.space 256 * 16
tss:
	.space 102
	.word 104                          # no I/O bitmap
	.balign 8
percpu:
	.quad 0                            # the user's RSP during a system call
	.long kernel_stack_top, 0          # the kernel's RSP for syscall

	.balign 16
kernel_stack:
	.space 1024
kernel_stack_top:

	.balign 4096
user_page:
user_start:
	movl $SYS_WRITE, %eax              # write(1, msg_int80, len) through int $0x80
	movl $1, %edi
	movl $msg_int80, %esi
	movl $(msg_int80_end - msg_int80), %edx
	int $0x80
	movl $SYS_WRITE, %eax              # write(1, msg_syscall, len) through syscall
	movl $1, %edi
	movl $msg_syscall, %esi
	movl $(msg_syscall_end - msg_syscall), %edx
	syscall
	movl $SYS_EXIT, %eax               # exit(0x10): QEMU's exit status 0x21 = 33
	movl $0x10, %edi
	syscall
1:	jmp 1b
msg_int80:
	.ascii "ring 3: int $0x80\n"
msg_int80_end:
msg_syscall:
	.ascii "ring 3: syscall\n"
msg_syscall_end:
	.balign 16
user_stack:
	.space 256
user_stack_top:

	.balign 4096
pml4:
	.space 4096
pdpt:
	.space 4096
pd:
	.space 4096
page_table:
	.space 4096
kernel_end:
