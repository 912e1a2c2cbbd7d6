# Kernel text for the lesson "mode-vs-context": the linux-2.6-i386 preset's entry
# code (Linux 2.6.15 arch/i386/kernel/entry.S), extended by the path a timer
# interrupt takes when the interrupted task has used up its time slice:
# do_IRQ with irq_enter/irq_exit, the tick's bookkeeping, ret_from_intr ->
# resume_userspace -> work_pending -> work_resched -> schedule(), and the task
# switch itself: switch_mm (load_cr3), switch_to (include/asm-i386/system.h)
# and __switch_to (arch/i386/kernel/process.c) with load_esp0 and load_TLS.
#
# The C functions are hand-written stand-ins with the same effect on this
# machine; each says what it leaves out. The task_struct layout is this
# lesson's own extension of the preset's simplified one (see the .equ below),
# not the real 2.6.15 offsets.
#
# Build: as --32 -o k.o THIS && ld -m elf_i386 -Ttext=0xc0102000 -o k.elf k.o

	.code32
	.text

# include/asm-i386/segment.h (2.6.15)
	.equ __KERNEL_CS, 0x60
	.equ __KERNEL_DS, 0x68
	.equ __USER_CS, 0x73
	.equ __USER_DS, 0x7b
	.equ GDT_ENTRY_TLS_MIN, 6
# include/asm-i386/thread_info.h (2.6.15)
	.equ THREAD_SIZE, 8192
	.equ TI_task, 0
	.equ TI_flags, 8
	.equ TI_preempt_count, 0x14
	.equ _TIF_SYSCALL_TRACE, 0x001
	.equ _TIF_SIGPENDING, 0x004
	.equ _TIF_NEED_RESCHED, 0x008
	.equ _TIF_SINGLESTEP, 0x010
	.equ _TIF_SYSCALL_EMU, 0x040
	.equ _TIF_SYSCALL_AUDIT, 0x080
	.equ _TIF_SECCOMP, 0x100
	.equ _TIF_ALLWORK_MASK, (0x0000FFFF & ~_TIF_SECCOMP)
	.equ _TIF_WORK_MASK, (0x0000FFFF & ~(_TIF_SYSCALL_TRACE|_TIF_SYSCALL_AUDIT|_TIF_SINGLESTEP|_TIF_SECCOMP|_TIF_SYSCALL_EMU))
# include/linux/hardirq.h (2.6.15): PREEMPT_BITS 8, SOFTIRQ_BITS 8, so the
# hard-IRQ count starts at bit 16. Without CONFIG_PREEMPT, irq_exit subtracts
# the same amount it added (IRQ_EXIT_OFFSET = HARDIRQ_OFFSET).
	.equ HARDIRQ_OFFSET, 0x10000
	.equ IRQ_EXIT_OFFSET, HARDIRQ_OFFSET
# kernel/sched.c (2.6.15): a nice-0 task gets DEF_TIMESLICE = 100 ms
	.equ HZ, 250
	.equ DEF_TIMESLICE, (100 * HZ / 1000)
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
	.equ EFAULT, 14
	.equ ENOSYS, 38
	.equ __PAGE_OFFSET, 0xc0000000
# sizeof(struct tss_struct) in 2.6.15 = 0x2200; esp0 is at offset 4
	.equ TSS_esp0, 4
	.equ TSS_sysenter_esp0, TSS_esp0 - 0x2200
	.equ nr_syscalls, 294
# Addresses elsewhere in the preset
	.equ SYSENTER_RETURN, 0xffffe410
	.equ cpu_gdt_table, 0xc0300000
	.equ sys_call_table, 0xc0302000
	.equ jiffies_64, 0xc0303000
	.equ init_tss, 0xc0310000
# task_struct: the preset's simplified layout (0x00 state, 0x04 thread_info,
# 0x08 pid, 0x0c tgid, 0x10 uid, 0x14 comm[16]) extended by this lesson:
	.equ TASK_pid, 0x08
	.equ TASK_tgid, 0x0c
	.equ TASK_uid, 0x10
	.equ TASK_time_slice, 0x24	# p->time_slice, in ticks
	.equ TASK_mm, 0x28		# p->mm
	.equ TASK_run_next, 0x2c	# the task the run queue holds next (simplified)
	.equ TASK_thread_esp0, 0x40	# p->thread.esp0
	.equ TASK_thread_eip, 0x44	# p->thread.eip
	.equ TASK_thread_esp, 0x48	# p->thread.esp
	.equ TASK_thread_gs, 0x4c	# p->thread.gs
	.equ TASK_thread_tls, 0x50	# p->thread.tls_array[0], 8 bytes
# mm_struct, this lesson's layout: 0x00 pgd (kernel virtual address)
	.equ MM_pgd, 0x00

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
# 2.6.15 stub pushes the IRQ number minus 256 where pt_regs has orig_eax.
irq0_entry:
	pushl $0-256
	jmp common_interrupt

common_interrupt:
	SAVE_ALL
	movl %esp, %eax
	call do_IRQ
	jmp ret_from_intr

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

work_pending:
	testb $_TIF_NEED_RESCHED, %cl
	jz work_notifysig
work_resched:
	call schedule
	cli
	movl TI_flags(%ebp), %ecx
	andl $_TIF_WORK_MASK, %ecx
	jz restore_all
	testb $_TIF_NEED_RESCHED, %cl
	jnz work_resched
work_notifysig:
	ud2		# signal delivery: not part of this lesson

# ---------------------------------------------------------------------------
# arch/i386/kernel/irq.c do_IRQ(regs = %eax), reduced. The IRQ number is
# regs->orig_eax & 0xff (0: the timer). With 8 KiB stacks the handler runs on
# the interrupted task's kernel stack. irq_enter() is a macro that adds
# HARDIRQ_OFFSET to the preempt counter of the current thread_info.
do_IRQ:
	movl $-THREAD_SIZE, %ecx
	andl %esp, %ecx
	addl $HARDIRQ_OFFSET, TI_preempt_count(%ecx)
	call timer_interrupt	# via __do_IRQ and handle_IRQ_event
	call irq_exit
	movl $1, %eax
	ret

# arch/i386/kernel/time.c timer_interrupt -> do_timer_interrupt_hook:
# do_timer() counts the tick, update_process_times() charges it to the
# interrupted task through scheduler_tick().
timer_interrupt:
	addl $1, jiffies_64
	adcl $0, jiffies_64+4
	call scheduler_tick
	ret

# kernel/sched.c scheduler_tick(), reduced to the time slice of a normal
# (not real-time) task. When it runs out, the task is marked for rescheduling
# and gets a new slice. (Moving it to the expired array, priority and
# interactivity bookkeeping are left out.)
scheduler_tick:
	movl $-THREAD_SIZE, %ecx
	andl %esp, %ecx
	movl TI_task(%ecx), %edx
	decl TASK_time_slice(%edx)
	jnz 1f
	movl $DEF_TIMESLICE, TASK_time_slice(%edx)
	orl $_TIF_NEED_RESCHED, TI_flags(%ecx)
1:	ret

# kernel/softirq.c irq_exit(): leave hard-IRQ context. No softirq is pending
# on this machine, so invoke_softirq() is not needed.
irq_exit:
	movl $-THREAD_SIZE, %ecx
	andl %esp, %ecx
	subl $IRQ_EXIT_OFFSET, TI_preempt_count(%ecx)
	ret

# ---------------------------------------------------------------------------
# kernel/sched.c schedule(), reduced: the run queue holds one other runnable
# task, named by TASK_run_next. context_switch() is inlined, as in the kernel.
schedule:
	movl $-THREAD_SIZE, %ecx
	andl %esp, %ecx
	movl TI_task(%ecx), %eax		# prev = current
	andl $~_TIF_NEED_RESCHED, TI_flags(%ecx)	# clear_tsk_need_resched(prev)
	movl TASK_run_next(%eax), %edx		# next = the task picked to run
# context_switch() -> switch_mm(): a different process has a different
# address space, so CR3 gets the physical address of next->mm->pgd.
context_switch:
	movl TASK_mm(%edx), %ecx
	cmpl TASK_mm(%eax), %ecx
	je switch_to
	movl MM_pgd(%ecx), %ecx
	subl $__PAGE_OFFSET, %ecx		# __pa()
	movl %ecx, %cr3				# load_cr3()
# switch_to(prev = %eax, next = %edx, last), include/asm-i386/system.h (2.6.15):
switch_to:
	pushl %ebp
	movl %esp, TASK_thread_esp(%eax)	# save ESP
	movl TASK_thread_esp(%edx), %esp	# restore ESP
	movl $switch_to_resume, TASK_thread_eip(%eax)	# save EIP
	pushl TASK_thread_eip(%edx)		# restore EIP
	jmp __switch_to
# The "1:" label of switch_to: where every task switched out here resumes.
switch_to_resume:
	popl %ebp
	ret

# arch/i386/kernel/process.c __switch_to(prev_p = %eax, next_p = %edx),
# fastcall, returns prev_p. Left out: lazy FPU state, debug registers, the
# I/O bitmap, and FS (0 for both tasks here).
__switch_to:
	movl TASK_thread_esp0(%edx), %ecx	# load_esp0(tss, &next->thread):
	movl %ecx, init_tss+TSS_esp0		#   tss->esp0 = next->thread.esp0
	movl %gs, %ecx				# savesegment(gs, prev->gs)
	movl %ecx, TASK_thread_gs(%eax)
	movl TASK_thread_tls(%edx), %ecx	# load_TLS(next, cpu): the TLS
	movl %ecx, cpu_gdt_table+GDT_ENTRY_TLS_MIN*8	#   descriptor into the GDT
	movl TASK_thread_tls+4(%edx), %ecx
	movl %ecx, cpu_gdt_table+GDT_ENTRY_TLS_MIN*8+4
	movl TASK_thread_gs(%edx), %ecx		# loadsegment(gs, next->gs)
	movl %ecx, %gs
	ret

# ---------------------------------------------------------------------------
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
# Work found on the way out of a system call. Tracing would call
# do_syscall_trace() first (not followed here); anything else - a reschedule,
# a signal - is handled as on the way back from an interrupt.
syscall_exit_work:
	testb $(_TIF_SYSCALL_TRACE|_TIF_SYSCALL_AUDIT|_TIF_SINGLESTEP), %cl
	jz work_pending
	ud2		# do_syscall_trace: not part of this lesson
ldt_ss:
	ud2
