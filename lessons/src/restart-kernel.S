# Kernel text for the lesson "restart": the linux-2.6-i386 preset's entry code
# (Linux 2.6.15 arch/i386/kernel/entry.S) plus the slow exit path that handles
# pending signals (syscall_exit_work, work_pending, work_notifysig), and small
# stand-ins for the C code it calls: do_notify_resume/do_signal with the
# restart rule of arch/i386/kernel/signal.c, a pipe read() that is interrupted by
# a stop signal, and mmap2() to show where six arguments arrive.
#
# Stand-ins are hand-written assembly with the same effect on this machine as the
# C functions they are named after; each says what it leaves out.
#
# Build: as --32 -o k.o THIS && ld -m elf_i386 -Ttext=0xc0102000 -o k.elf k.o

	.code32
	.text

# include/asm-i386/segment.h (2.6.15)
	.equ __KERNEL_CS, 0x60
	.equ __KERNEL_DS, 0x68
	.equ __USER_CS, 0x73
	.equ __USER_DS, 0x7b
# include/asm-i386/thread_info.h (2.6.15): 8 KiB stacks; thread_info offsets
	.equ THREAD_SIZE, 8192
	.equ TI_task, 0
	.equ TI_flags, 8
# thread flags (include/asm-i386/thread_info.h, 2.6.15)
	.equ _TIF_SYSCALL_TRACE, 0x001
	.equ _TIF_SIGPENDING, 0x004
	.equ _TIF_NEED_RESCHED, 0x008
	.equ _TIF_SINGLESTEP, 0x010
	.equ _TIF_SYSCALL_EMU, 0x040
	.equ _TIF_SYSCALL_AUDIT, 0x080
	.equ _TIF_SECCOMP, 0x100
	.equ _TIF_ALLWORK_MASK, (0x0000FFFF & ~_TIF_SECCOMP)
	.equ _TIF_WORK_MASK, (0x0000FFFF & ~(_TIF_SYSCALL_TRACE|_TIF_SYSCALL_AUDIT|_TIF_SINGLESTEP|_TIF_SECCOMP|_TIF_SYSCALL_EMU))
# struct pt_regs (entry.S)
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
# include/asm-generic/errno-base.h and include/linux/errno.h (2.6.15)
	.equ EFAULT, 14
	.equ ENOSYS, 38
	.equ ERESTARTSYS, 512
	.equ EBADF, 9
	.equ ERESTARTNOINTR, 513
	.equ ERESTARTNOHAND, 514
	.equ __PAGE_OFFSET, 0xc0000000
# sizeof(struct tss_struct) in 2.6.15 = 0x2200; esp0 is at offset 4
	.equ TSS_sysenter_esp0, 4 - 0x2200
	.equ nr_syscalls, 294
# Addresses elsewhere in the preset
	.equ SYSENTER_RETURN, 0xffffe410
	.equ sys_call_table, 0xc0302000
	.equ jiffies_64, 0xc0303000
# The preset's simplified task_struct: pid 0x08, tgid 0x0c, uid 0x10
	.equ TASK_pid, 0x08
	.equ TASK_tgid, 0x0c
	.equ TASK_uid, 0x10
# This lesson's pipe (the lesson adds a kernel data region "pipe" for it):
# the number of bytes waiting and the bytes themselves (one word here).
	.equ pipe_bytes, 0xc7f3a000
	.equ pipe_data, 0xc7f3a004
# What the writer at the other end of the pipe writes: "ok!\n".
	.equ WRITER_DATA, 0x0a216b6f
# Where the sys_mmap2 stand-in says the new mapping starts.
	.equ MMAP_RESULT, 0xb7fd5000

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

# Work to do before the return to user mode: reschedule, or signals.
work_pending:
	testb $_TIF_NEED_RESCHED, %cl
	jz work_notifysig
work_resched:
	ud2		# schedule(): not part of this lesson
work_notifysig:
	testl $VM_MASK, EFLAGS(%esp)
	movl %esp, %eax
	jne work_notifysig_v86
	xorl %edx, %edx
	call do_notify_resume
	jmp resume_userspace

# System call exit with tracing or other work pending.
syscall_exit_work:
	testb $(_TIF_SYSCALL_TRACE|_TIF_SYSCALL_AUDIT|_TIF_SINGLESTEP), %cl
	jz work_pending
	ud2		# do_syscall_trace(): not part of this lesson

syscall_fault:
	pushl %eax
	SAVE_ALL
	GET_THREAD_INFO %ebp
	movl $-EFAULT, EAX(%esp)
	jmp resume_userspace

syscall_badsys:
	movl $-ENOSYS, EAX(%esp)
	jmp resume_userspace

# IRQ 0 (the timer): in 2.6.15 the stub pushes the IRQ number minus 256.
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

# ---------------------------------------------------------------------------
# arch/i386/kernel/signal.c (2.6.15), reduced to what this lesson needs.
#
# do_notify_resume(regs = %eax, oldset = %edx, thread_info_flags = %ecx) calls
# do_signal(regs, oldset) when TIF_SIGPENDING is set.
do_notify_resume:
	testl $_TIF_SIGPENDING, %ecx
	jz 1f
	call do_signal
1:	ret

# do_signal(regs = %eax). The pending signal is SIGTSTP (Ctrl-Z) with no
# handler, so its default action applies: get_signal_to_deliver() stops the
# task here; it sleeps until SIGCONT, and nothing is left to deliver afterwards.
# While the task is stopped other processes run: the writer at the other end
# of the pipe writes its four bytes. The stand-in does the two effects of all
# this that the lesson needs: the signal is no longer pending, and the pipe
# holds data. Then comes the code of do_signal's "no handler" path: if the
# interrupted system call asked to be restarted, put the system call number
# back into EAX and move the saved EIP back by two bytes.
# (The -ERESTART_RESTARTBLOCK case, which restarts through restart_syscall
# instead, is left out.)
do_signal:
	movl $-THREAD_SIZE, %ecx
	andl %esp, %ecx
	andl $~_TIF_SIGPENDING, TI_flags(%ecx)
	movl $WRITER_DATA, pipe_data
	movl $4, pipe_bytes
	cmpl $0, ORIG_EAX(%eax)
	jl 2f
	movl EAX(%eax), %ecx
	cmpl $-ERESTARTNOHAND, %ecx
	je 1f
	cmpl $-ERESTARTSYS, %ecx
	je 1f
	cmpl $-ERESTARTNOINTR, %ecx
	jne 2f
1:	movl ORIG_EAX(%eax), %ecx
	movl %ecx, EAX(%eax)
	subl $2, EIP(%eax)
2:	xorl %eax, %eax
	ret

# ---------------------------------------------------------------------------
# System calls.

# fs/read_write.c sys_read -> fs/pipe.c pipe_read (2.6.15), reduced: fd 0 is
# the read end of a pipe that holds at most one word; no other fd is open, and
# fget_light() finding no file makes sys_read return -EBADF. Arguments come from
# the stack (asmlinkage): fd at 4(%esp), buf at 8(%esp), count at 12(%esp).
sys_read:
	cmpl $0, 4(%esp)
	jne 2f
	movl pipe_bytes, %eax
	testl %eax, %eax
	jnz 1f
	# The pipe is empty: pipe_wait() puts the task to sleep. While it sleeps,
	# SIGTSTP arrives; signal_wake_up() sets TIF_SIGPENDING and wakes it.
	# (The sleep itself is not modelled.) Back in the loop there is still no
	# data and a signal is pending, so pipe_read gives up with -ERESTARTSYS.
	movl $-THREAD_SIZE, %ecx
	andl %esp, %ecx
	orl $_TIF_SIGPENDING, TI_flags(%ecx)
	movl $-ERESTARTSYS, %eax
	ret
1:	movl 8(%esp), %ecx
	movl pipe_data, %edx
	movl %edx, (%ecx)
	movl $0, pipe_bytes
	ret
2:	movl $-EBADF, %eax
	ret

# arch/i386/kernel/sys_i386.c sys_mmap2(addr, len, prot, flags, fd, pgoff):
# six arguments, found at 4(%esp) ... 24(%esp). There is no memory manager on
# this machine; the stand-in returns the address where a 2.6 kernel would
# typically place a new mapping of this size below the shared libraries.
sys_mmap2:
	movl $MMAP_RESULT, %eax
	ret

# kernel/timer.c sys_getpid/sys_gettid, kernel/sys.c sys_getuid
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

# Paths this lesson does not follow.
syscall_trace_entry:
	ud2
work_notifysig_v86:
	ud2
ldt_ss:
	ud2
