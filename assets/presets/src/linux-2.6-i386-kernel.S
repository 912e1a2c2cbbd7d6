# Kernel text for the linux-2.6-i386 preset.
#
# The instruction sequences follow Linux 2.6.15, arch/i386/kernel/entry.S
# (sysenter_entry, system_call, restore_all, syscall_fault, syscall_badsys,
# common_interrupt, ret_from_intr/resume_userspace), with CONFIG_PREEMPT off.
# Paths the model does not follow (tracing, signal delivery, rescheduling, the
# 16-bit-stack fixup) end in ud2 stubs that carry the kernel's label names.
# The C routines (sys_getpid, do_IRQ, ...) are hand-written stand-ins with the
# same effect on this machine's simplified task_struct.
#
# Build: as --32 -o k.o THIS && ld -m elf_i386 -Ttext=0xc0102000 --defsym SYSENTER_RETURN=0xffffe410 --oformat binary -o k.bin k.o
# SYSENTER_RETURN is a label of the vsyscall page (linux-2.6-i386-vsyscall.S), linked in:
# defsym: SYSENTER_RETURN=0xffffe410

	.code32
	.text

# include/asm-i386/segment.h (2.6.15)
	.equ __KERNEL_CS, 0x60
	.equ __KERNEL_DS, 0x68
	.equ __USER_CS, 0x73
	.equ __USER_DS, 0x7b
# THREAD_SIZE (include/asm-i386/thread_info.h, 8 KiB stacks)
	.equ THREAD_SIZE, 8192
# struct thread_info offsets (asm-offsets: TI_task 0, TI_flags 8)
	.equ TI_task, 0
	.equ TI_flags, 8
# Thread flag masks (include/asm-i386/thread_info.h, 2.6.15):
# SYSCALL_TRACE bit 0, SYSCALL_EMU bit 6, SYSCALL_AUDIT bit 7, SECCOMP bit 8
	.equ _TIF_SYSCALL_TRACE, 0x001
	.equ _TIF_SYSCALL_EMU, 0x040
	.equ _TIF_SYSCALL_AUDIT, 0x080
	.equ _TIF_SECCOMP, 0x100
	.equ _TIF_SINGLESTEP, 0x010
	.equ _TIF_ALLWORK_MASK, (0x0000FFFF & ~_TIF_SECCOMP)
	.equ _TIF_WORK_MASK, (0x0000FFFF & ~(_TIF_SYSCALL_TRACE|_TIF_SYSCALL_AUDIT|_TIF_SINGLESTEP|_TIF_SECCOMP|_TIF_SYSCALL_EMU))
# pt_regs slots (entry.S)
	.equ EBX, 0x00
	.equ ECX, 0x04
	.equ EDX, 0x08
	.equ ESI, 0x0C
	.equ EDI, 0x10
	.equ EBP, 0x14
	.equ EAX, 0x18
	.equ DS, 0x1C
	.equ ES, 0x20
	.equ ORIG_EAX, 0x24
	.equ EIP, 0x28
	.equ CS, 0x2C
	.equ EFLAGS, 0x30
	.equ OLDESP, 0x34
	.equ OLDSS, 0x38
	.equ VM_MASK, 0x00020000
	.equ ENOSYS, 38
	.equ EFAULT, 14
	.equ __PAGE_OFFSET, 0xc0000000
# sizeof(struct tss_struct) in 2.6.15 = 0x2200; esp0 is at offset 4
	.equ TSS_sysenter_esp0, 4 - 0x2200
# NR_syscalls (include/asm-i386/unistd.h, 2.6.15)
	.equ nr_syscalls, 294
# Addresses elsewhere in the preset
	.equ sys_call_table, 0xc0302000
	.equ jiffies_64, 0xc0303000
# Simplified task_struct (see the preset): pid 0x08, tgid 0x0c, uid 0x10
	.equ TASK_pid, 0x08
	.equ TASK_tgid, 0x0c
	.equ TASK_uid, 0x10

	.macro SAVE_ALL
	cld
	pushl %es
	pushl %ds
	pushl %eax
	pushl %ebp
	pushl %edi
	pushl %esi
	pushl %edx
	pushl %ecx
	pushl %ebx
	movl $(__USER_DS), %edx
	movl %edx, %ds
	movl %edx, %es
	.endm

	.macro RESTORE_REGS
	popl %ebx
	popl %ecx
	popl %edx
	popl %esi
	popl %edi
	popl %ebp
	popl %eax
	popl %ds
	popl %es
	.endm

	.macro GET_THREAD_INFO reg
	movl $-THREAD_SIZE, \reg
	andl %esp, \reg
	.endm

sysenter_entry:
	movl TSS_sysenter_esp0(%esp), %esp
sysenter_past_esp:
	sti
	pushl $(__USER_DS)
	pushl %ebp
	pushfl
	pushl $(__USER_CS)
	pushl $SYSENTER_RETURN
	cmpl $__PAGE_OFFSET-3, %ebp
	jae syscall_fault
1:	movl (%ebp), %ebp
	pushl %eax
	SAVE_ALL
	GET_THREAD_INFO %ebp
	testw $(_TIF_SYSCALL_EMU|_TIF_SYSCALL_TRACE|_TIF_SECCOMP|_TIF_SYSCALL_AUDIT), TI_flags(%ebp)
	jnz syscall_trace_entry
	cmpl $(nr_syscalls), %eax
	jae syscall_badsys
	call *sys_call_table(,%eax,4)
	movl %eax, EAX(%esp)
	cli
	movl TI_flags(%ebp), %ecx
	testw $_TIF_ALLWORK_MASK, %cx
	jne syscall_exit_work
	movl EIP(%esp), %edx
	movl OLDESP(%esp), %ecx
	xorl %ebp, %ebp
	sti
	sysexit

system_call:
	pushl %eax
	SAVE_ALL
	GET_THREAD_INFO %ebp
	testw $(_TIF_SYSCALL_EMU|_TIF_SYSCALL_TRACE|_TIF_SECCOMP|_TIF_SYSCALL_AUDIT), TI_flags(%ebp)
	jnz syscall_trace_entry
	cmpl $(nr_syscalls), %eax
	jae syscall_badsys
syscall_call:
	call *sys_call_table(,%eax,4)
	movl %eax, EAX(%esp)
syscall_exit:
	cli
	movl TI_flags(%ebp), %ecx
	testw $_TIF_ALLWORK_MASK, %cx
	jne syscall_exit_work
restore_all:
	movl EFLAGS(%esp), %eax
	movb OLDSS(%esp), %ah
	movb CS(%esp), %al
	andl $(VM_MASK | (4 << 8) | 3), %eax
	cmpl $((4 << 8) | 3), %eax
	je ldt_ss
restore_nocheck:
	RESTORE_REGS
	addl $4, %esp
	iret

syscall_fault:
	pushl %eax
	SAVE_ALL
	GET_THREAD_INFO %ebp
	movl $-EFAULT, EAX(%esp)
	jmp resume_userspace

syscall_badsys:
	movl $-ENOSYS, EAX(%esp)
	jmp resume_userspace

# IRQ 0 (the timer) arrives at vector 0x20 through an interrupt gate. The
# 2.6.15 stub (the .rept NR_IRQS block of entry.S) pushes the IRQ number minus
# 256 into the orig_eax slot, negative so that it never looks like a system
# call number; the $~vector form came later in 2.6.
irq0_entry:
	pushl $0-256
	jmp common_interrupt

common_interrupt:
	SAVE_ALL
	movl %esp, %eax
	call do_IRQ
ret_from_intr:
	GET_THREAD_INFO %ebp
	movl EFLAGS(%esp), %eax
	movb CS(%esp), %al
	testl $(VM_MASK | 3), %eax
	jz restore_nocheck
resume_userspace:
	cli
	movl TI_flags(%ebp), %ecx
	andl $_TIF_WORK_MASK, %ecx
	jne work_pending
	jmp restore_all

# Stand-in for do_IRQ -> timer_interrupt -> do_timer: count one tick.
do_IRQ:
	addl $1, jiffies_64
	adcl $0, jiffies_64+4
	ret

# kernel/timer.c: sys_getpid returns current->tgid, sys_gettid current->pid;
# current is thread_info->task, found from the stack pointer.
sys_getpid:
	movl $-THREAD_SIZE, %eax
	andl %esp, %eax
	movl TI_task(%eax), %eax
	movl TASK_tgid(%eax), %eax
	ret

sys_gettid:
	movl $-THREAD_SIZE, %eax
	andl %esp, %eax
	movl TI_task(%eax), %eax
	movl TASK_pid(%eax), %eax
	ret

# kernel/sys.c: sys_getuid returns current->uid (2.6.15 has no struct cred).
sys_getuid:
	movl $-THREAD_SIZE, %eax
	andl %esp, %eax
	movl TI_task(%eax), %eax
	movl TASK_uid(%eax), %eax
	ret

# kernel/sys_ni.c
sys_ni_syscall:
	movl $-ENOSYS, %eax
	ret

# Paths this machine does not model.
syscall_trace_entry:
	ud2
syscall_exit_work:
	ud2
work_pending:
	ud2
ldt_ss:
	ud2
