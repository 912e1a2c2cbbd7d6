# kernel32.S - ringstep's example kernel, 32-bit (Multiboot version 1).
#
# From the Multiboot hand-off to a user program and back, in as few lines as possible:
#   1. load a GDT of its own (kernel and user code/data segments and a TSS descriptor);
#   2. fill in the TSS (ESP0/SS0: the stack the CPU switches to on an interrupt from
#      ring 3) and load TR;
#   3. fill in an IDT: vectors 0-31 go to one handler that prints the vector and the
#      error code on the UART and ends the run; vector 0x80 is a gate user code may use;
#   4. turn on 32-bit paging: the kernel identity-mapped for the kernel only, one page
#      (the user program, its strings and its stack) with U/S = 1;
#   5. write the SYSENTER MSRs (0x174 CS, 0x175 ESP, 0x176 EIP);
#   6. print a banner, then `iret` to ring 3.
# The user program calls write() through `int $0x80`, write() again through `sysenter`
# (the kernel returns with `sysexit`), then exit(), which the kernel turns into a write
# to QEMU's isa-debug-exit port: QEMU (and ringstep) end with status (value << 1) | 1.
#
# Assemble: `ringstep asm --example 32 -o kernel32.elf`, or from this file with
# `ringstep asm kernel32.S -o kernel32.elf`, or with binutils:
#   as --32 -o k.o kernel32.S && ld -m elf_i386 -Ttext=0x100000 -e _start -o k.elf k.o
# Run: `ringstep boot --example 32`, or
#   qemu-system-i386 -kernel k.elf -serial stdio -display none \
#     -device isa-debug-exit,iobase=0xf4,iosize=0x04
#
# Broken on purpose when one of these symbols is defined (`--defsym NAME=1`, or
# `ringstep boot --example 32 --variant ...`):
#   BAD_ESP0        TSS.ESP0 is never written (stays 0): int $0x80 from ring 3 cannot
#                   push its frame -> #PF -> #DF -> triple fault (SDM Vol. 3A 6.12.1)
#   NO_SYSENTER_CS  IA32_SYSENTER_CS is left 0: sysenter raises #GP(0) (SDM Vol. 2B
#                   SYSENTER)
#   USER_DPL0       the user code descriptor has DPL 0: iret to ring 3 raises
#                   #GP(0x18) (SDM Vol. 2A IRET, "return to outer privilege level")

	.code32

	.set MB_MAGIC, 0x1BADB002
	.set MB_FLAGS, 0x00000003          # page-aligned modules, memory information
	.set KERNEL_CS, 0x08               # GDT entry 1, RPL 0
	.set KERNEL_DS, 0x10               # GDT entry 2
	.set USER_CS, 0x1b                 # GDT entry 3, RPL 3 (SYSENTER_CS + 16, | 3)
	.set USER_DS, 0x23                 # GDT entry 4, RPL 3 (SYSENTER_CS + 24, | 3)
	.set TSS_SEL, 0x28                 # GDT entry 5
	.set COM1, 0x3f8                   # 16550 UART: transmit register; +5 line status
	.set EXIT_PORT, 0xf4               # QEMU isa-debug-exit
	.set SYS_EXIT, 1                   # Linux i386 system call numbers
	.set SYS_WRITE, 4
	.set ERRCODE_VECTORS, 0x00227d00   # vectors that push an error code: 8, 10-14, 17, 21

# The Multiboot header (spec 3.1.1): magic, flags, checksum; the three sum to 0.
multiboot_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.globl _start
# The boot loader jumps here in protected mode, paging off, interrupts off, with flat
# segments whose selectors mean nothing yet: GDTR may be invalid (spec 3.2).
_start:
	movl $kernel_stack_top, %esp
	lgdt gdt_ptr
	ljmp $KERNEL_CS, $reload_segments  # CS from our own GDT
reload_segments:
	movw $KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	call setup_tss
	call setup_idt
	call setup_paging
	call setup_sysenter
	movl $banner, %esi
	call puts

	# To ring 3. IRET to an outer level pops EIP, CS, EFLAGS, ESP and SS; the data
	# segment registers must hold selectors ring 3 may use, or IRET clears them.
	movw $USER_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	pushl $USER_DS                     # SS
	pushl $user_stack_top              # ESP
	pushl $0x002                       # EFLAGS: interrupts stay off (no timer here)
	pushl $USER_CS                     # CS
	pushl $user_start                  # EIP
	iret

# The TSS: only SS0:ESP0 matter here, the stack an interrupt from ring 3 switches to.
setup_tss:
.ifndef BAD_ESP0
	movl $kernel_stack_top, tss + 4    # ESP0
.endif
	movw $KERNEL_DS, tss + 8           # SS0
	movl $tss, %eax                    # the descriptor's base, in three pieces
	movw %ax, gdt_tss + 2
	shrl $16, %eax
	movb %al, gdt_tss + 4
	movb %ah, gdt_tss + 7
	movw $TSS_SEL, %ax
	ltr %ax                            # marks the descriptor busy
	ret

# The IDT: 32-bit interrupt gates (type 0xE) with the kernel code selector.
setup_idt:
	movl $exception_stubs, %edx
	xorl %ecx, %ecx
1:	movl %edx, %eax
	movl $0x8e00, %ebx                 # present, DPL 0: hardware and the CPU only
	call set_gate
	addl $8, %edx                      # the stubs are 8 bytes apart
	incl %ecx
	cmpl $32, %ecx
	jne 1b
	movl $int80_entry, %eax
	movl $0x80, %ecx
	movl $0xee00, %ebx                 # present, DPL 3: `int $0x80` allowed in ring 3
	call set_gate
	lidt idt_ptr
	ret

# set_gate: the gate for vector ECX: handler EAX, type and DPL in BH.
set_gate:
	leal idt(,%ecx,8), %edi
	movw %ax, (%edi)                   # offset 15..0
	movw $KERNEL_CS, 2(%edi)           # segment selector
	movw %bx, 4(%edi)                  # a zero byte, then P, DPL, type
	shrl $16, %eax
	movw %ax, 6(%edi)                  # offset 31..16
	ret

# 32-bit paging with one page table: the kernel's pages present and writable for the
# kernel only; the user page also user-accessible (U/S = 1 in both levels).
setup_paging:
	movl $page_table + 7, page_dir     # PDE 0: present, writable, user
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
	movl $page_dir, %eax
	movl %eax, %cr3
	movl %cr0, %eax
	orl $0x80000000, %eax              # CR0.PG
	movl %eax, %cr0
	ret

# set_pte: the page table entry for address EAX (in the first 4 MiB) becomes EDX.
set_pte:
	movl %eax, %ebx
	shrl $12, %ebx
	andl $0x3ff, %ebx
	movl %edx, page_table(,%ebx,4)
	ret

# SYSENTER loads CS from MSR 0x174 (SS is that + 8), ESP from 0x175, EIP from 0x176.
setup_sysenter:
	xorl %edx, %edx
.ifndef NO_SYSENTER_CS
	movl $0x174, %ecx
	movl $KERNEL_CS, %eax
	wrmsr
.endif
	movl $0x175, %ecx
	movl $kernel_stack_top, %eax
	wrmsr
	movl $0x176, %ecx
	movl $sysenter_entry, %eax
	wrmsr
	ret

# int $0x80 arrives here on the TSS's stack: EIP, CS, EFLAGS, ESP, SS of ring 3 pushed.
int80_entry:
	call do_syscall
	iret

# sysenter arrives here with nothing saved: by our convention (Linux's) the user keeps
# its stack pointer in EBP, and resumes at sysenter_return. SYSEXIT takes EIP from EDX
# and ESP from ECX.
sysenter_entry:
	call do_syscall
	movl $sysenter_return, %edx
	movl %ebp, %ecx
	sysexit

# do_syscall: number in EAX, arguments in EBX, ECX, EDX; the result in EAX.
do_syscall:
	cmpl $SYS_WRITE, %eax
	je sys_write
	cmpl $SYS_EXIT, %eax
	je sys_exit
	movl $-38, %eax                    # -ENOSYS
	ret

# write(fd, buf, count): every fd is the UART. (A real kernel checks that the buffer
# lies in user memory.)
sys_write:
	pushl %esi
	pushl %ecx
	movl %ecx, %esi
	movl %edx, %ecx
	call put_buf
	popl %ecx
	popl %esi
	movl %edx, %eax
	ret

# exit(status): the status goes to isa-debug-exit, which ends the machine.
sys_exit:
	movl %ebx, %eax
	outb %al, $EXIT_PORT
	jmp halt

# One stub per exception vector, 8 bytes apart: push the vector, join the handler.
.macro exception_stub vector
	.balign 8
	pushl $\vector
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
	movl (%esp), %ecx                  # the vector the stub pushed
	xorl %edx, %edx
	movl $ERRCODE_VECTORS, %eax
	btl %ecx, %eax
	jnc 1f
	movl 4(%esp), %edx                 # the error code the CPU pushed
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

# putc: AL to the UART, once its transmitter holding register is empty.
putc:
	pushl %edx
	pushl %eax
	movw $COM1 + 5, %dx
1:	inb %dx, %al
	testb $0x20, %al
	jz 1b
	popl %eax
	movw $COM1, %dx
	outb %al, %dx
	popl %edx
	ret

# puts: the NUL-terminated string at ESI.
puts:
	pushl %eax
1:	movb (%esi), %al
	testb %al, %al
	jz 2f
	call putc
	incl %esi
	jmp 1b
2:	popl %eax
	ret

# put_buf: ECX bytes from ESI.
put_buf:
	testl %ecx, %ecx
	jz 2f
1:	movb (%esi), %al
	call putc
	incl %esi
	decl %ecx
	jnz 1b
2:	ret

# put_hex: EAX as 8 hex digits.
put_hex:
	pushl %ebx
	pushl %ecx
	movl %eax, %ebx
	movl $8, %ecx
1:	roll $4, %ebx
	movl %ebx, %eax
	andl $0xf, %eax
	movb hex_digits(%eax), %al
	call putc
	decl %ecx
	jnz 1b
	popl %ecx
	popl %ebx
	ret

banner:
	.asciz "kernel32: ring 0\n"
msg_exception:
	.asciz "exception "
msg_error:
	.asciz " error "
hex_digits:
	.ascii "0123456789abcdef"

# The GDT. Flat 4 GiB segments: base 0, limit 0xfffff in 4 KiB units, 32-bit.
	.balign 8
gdt:
	.quad 0                            # 0x00: the null descriptor
	.quad 0x00cf9a000000ffff           # 0x08: kernel code, DPL 0, execute/read
	.quad 0x00cf92000000ffff           # 0x10: kernel data, DPL 0, read/write
.ifdef USER_DPL0
	.quad 0x00cf9a000000ffff           # 0x18: user code - broken: DPL 0
.else
	.quad 0x00cffa000000ffff           # 0x18: user code, DPL 3, execute/read
.endif
	.quad 0x00cff2000000ffff           # 0x20: user data, DPL 3, read/write
gdt_tss:
	.word 103, 0                       # 0x28: the TSS, limit 103, base set at run time
	.byte 0, 0x89, 0, 0                #   present, DPL 0, type 9 (32-bit TSS, available)
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
idt_ptr:
	.word 256 * 8 - 1
	.long idt

	.balign 8
idt:
	.space 256 * 8
tss:
	.space 102
	.word 104                          # I/O map base beyond the limit: no I/O bitmap

	.balign 16
kernel_stack:
	.space 1024
kernel_stack_top:

# The user page: the only page ring 3 can reach.
	.balign 4096
user_page:
user_start:
	movl $SYS_WRITE, %eax              # write(1, msg_int80, len) through int $0x80
	movl $1, %ebx
	movl $msg_int80, %ecx
	movl $(msg_int80_end - msg_int80), %edx
	int $0x80
	movl $SYS_WRITE, %eax              # write(1, msg_sysenter, len) through sysenter
	movl $1, %ebx
	movl $msg_sysenter, %ecx
	movl $(msg_sysenter_end - msg_sysenter), %edx
	pushl %ebp
	movl %esp, %ebp
	sysenter
sysenter_return:
	popl %ebp
	movl $SYS_EXIT, %eax               # exit(0x10): QEMU's exit status 0x21 = 33
	movl $0x10, %ebx
	int $0x80
1:	jmp 1b
msg_int80:
	.ascii "ring 3: int $0x80\n"
msg_int80_end:
msg_sysenter:
	.ascii "ring 3: sysenter\n"
msg_sysenter_end:
	.balign 16
user_stack:
	.space 256
user_stack_top:

# The page directory and the page table, filled in by setup_paging.
	.balign 4096
page_dir:
	.space 4096
page_table:
	.space 4096
kernel_end:
