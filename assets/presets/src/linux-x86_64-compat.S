# Kernel text for the linux-x86_64 preset: IA32 emulation (CONFIG_IA32_EMULATION=y,
# as distributions ship it), the 32-bit process's ways into a Linux 6.7 kernel.
#
# entry_SYSENTER_compat and entry_SYSCALL_compat follow 6.7's
# arch/x86/entry/entry_64_compat.S in order. SYSENTER is what __kernel_vsyscall
# uses on Intel CPUs; 32-bit SYSCALL reaches entry_SYSCALL_compat through
# IA32_CSTAR only on AMD-style CPUs (on an Intel CPU, such as ringstep's, SYSCALL
# in compatibility mode is #UD). INT $0x80 is no longer handled in
# entry_64_compat.S in 6.7: IDT vector 0x80 is an ordinary IDTENTRY,
# asm_int80_emulation (entry_64.S idtentry, error_entry, error_return), whose C
# part is int80_emulation() in entry/common.c (commit be5341eb0d43, merged for
# 6.7-rc5). The fast paths leave through sysret32_from_system_call (SYSRETL)
# when do_fast_syscall_32 allows it; 64-bit kernels never use SYSEXIT. The rest
# leaves through the IRET path of linux-x86_64-kernel.S.
#
# Left out, as in linux-x86_64-kernel.S: page-table isolation, speculation
# mitigations, ENDBR, ASM_CLAC (no SMAP here), tracing/unwinding annotations.
# sync_regs, int80_emulation, do_SYSENTER_32, do_fast_syscall_32 and the
# __ia32_sys_* calls are C in the kernel; here they are short hand-written
# stand-ins with the same effect on this machine.
#
# Build: as --64 -o c.o THIS && ld -m elf_x86_64 -Ttext=0xffffffff81001000 \
#        --defsym swapgs_restore_regs_and_return_to_usermode=0xffffffff8100009d -o c.elf c.o
# defsym: swapgs_restore_regs_and_return_to_usermode=0xffffffff8100009d

	.code64
	.text

# arch/x86/include/asm/segment.h
	.equ __USER32_CS, 0x23
	.equ __USER_DS, 0x2b
	.equ ENOSYS, 38
# Per-CPU offsets in this preset's per-CPU area (addressed through %gs)
	.equ PCPU_current_task, 0x0
	.equ PCPU_top_of_stack, 0x18
# struct pt_regs (arch/x86/include/asm/ptrace.h)
	.equ RBP, 0x20
	.equ RBX, 0x28
	.equ RAX, 0x50
	.equ ORIG_RAX, 0x78
	.equ RIP, 0x80
	.equ CS, 0x88
	.equ EFLAGS, 0x90
	.equ RSP, 0x98
	.equ SS, 0xa0
	.equ PTREGS_SIZE, 0xa8
	.equ X86_EFLAGS_TF, 0x100
	.equ X86_EFLAGS_IF, 0x200
	.equ X86_EFLAGS_NT, 0x4000
	.equ X86_EFLAGS_RF, 0x10000
	.equ X86_EFLAGS_AC, 0x40000
	.equ X86_EFLAGS_FIXED, 0x2
# Addresses elsewhere in the preset
	.equ ia32_sys_call_table, 0xffffffff82201000
# vdso_image_32.sym_int80_landing_pad (simplified struct vdso_image: the field at 0)
	.equ vdso_image_32, 0xffffffff82202000
# NR_syscalls for i386 in Linux 6.7 (syscall_32.tbl ends at 456 futex_requeue)
	.equ IA32_NR_syscalls, 457
# Simplified task_struct (see the preset): pid 0x10, tgid 0x14, uid 0x18, and
# current->mm->context.vdso folded into the task at 0x30
	.equ TASK_pid, 0x10
	.equ TASK_tgid, 0x14
	.equ TASK_uid, 0x18
	.equ TASK_mm_context_vdso, 0x30

# SYSENTER from a 32-bit process (the vDSO's __kernel_vsyscall on Intel).
# SYSENTER left CS/SS = __KERNEL_CS/__KERNEL_DS, RSP = IA32_SYSENTER_ESP (the
# top of this CPU's entry stack), RIP = here, IF = 0, and saved nothing: the
# user EIP is lost, the user ESP is in EBP (the vDSO copied it there).
entry_SYSENTER_compat:
	swapgs
	# SWITCH_TO_KERNEL_CR3 scratch_reg=%rax, with RAX saved on the entry stack
	pushq %rax
	popq %rax
	movq %gs:PCPU_top_of_stack, %rsp
	pushq $__USER_DS		# pt_regs->ss
	pushq $0			# pt_regs->sp, filled in by do_SYSENTER_32
	pushfq				# pt_regs->flags (IF is 0 here)
	pushq $__USER32_CS		# pt_regs->cs
	pushq $0			# pt_regs->ip, filled in by do_fast_syscall_32
entry_SYSENTER_compat_after_hwframe:
	movl %eax, %eax
	pushq %rax			# pt_regs->orig_ax
	# PUSH_AND_CLEAR_REGS rax=$-ENOSYS
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rcx
	pushq $-ENOSYS
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	xorl %esi, %esi
	xorl %edx, %edx
	xorl %ecx, %ecx
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	xorl %r11d, %r11d
	xorl %ebx, %ebx
	xorl %ebp, %ebp
	xorl %r12d, %r12d
	xorl %r13d, %r13d
	xorl %r14d, %r14d
	xorl %r15d, %r15d
	cld
	# SYSENTER does not mask RFLAGS: clear NT, AC and TF by hand if set.
	testl $(X86_EFLAGS_NT|X86_EFLAGS_AC|X86_EFLAGS_TF), EFLAGS(%rsp)
	jnz .Lsysenter_fix_flags
.Lsysenter_flags_fixed:
	movq %rsp, %rdi
	call do_SYSENTER_32
	testl %eax, %eax
	jz swapgs_restore_regs_and_return_to_usermode
	jmp sysret32_from_system_call
.Lsysenter_fix_flags:
	pushq $X86_EFLAGS_FIXED
	popfq
	jmp .Lsysenter_flags_fixed

# 32-bit SYSCALL through IA32_CSTAR (AMD-style CPUs only). SYSCALL left
# RCX = the user EIP, R11 = the user RFLAGS, RFLAGS masked by FMASK, RSP = the
# user ESP; the vDSO moved the user ECX (arg 2) to EBP.
entry_SYSCALL_compat:
	swapgs
	movl %esp, %r8d			# the user ESP
	movq %gs:PCPU_top_of_stack, %rsp
entry_SYSCALL_compat_safe_stack:
	pushq $__USER_DS		# pt_regs->ss
	pushq %r8			# pt_regs->sp
	pushq %r11			# pt_regs->flags
	pushq $__USER32_CS		# pt_regs->cs
	pushq %rcx			# pt_regs->ip
entry_SYSCALL_compat_after_hwframe:
	movl %eax, %eax
	pushq %rax			# pt_regs->orig_ax
	# PUSH_AND_CLEAR_REGS rcx=%rbp rax=$-ENOSYS
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rbp			# pt_regs->cx: the user ECX, from EBP
	pushq $-ENOSYS
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	xorl %esi, %esi
	xorl %edx, %edx
	xorl %ecx, %ecx
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	xorl %r11d, %r11d
	xorl %ebx, %ebx
	xorl %ebp, %ebp
	xorl %r12d, %r12d
	xorl %r13d, %r13d
	xorl %r14d, %r14d
	xorl %r15d, %r15d
	movq %rsp, %rdi
	call do_fast_syscall_32
	testl %eax, %eax
	jz swapgs_restore_regs_and_return_to_usermode
# Opportunistic SYSRETL, for both fast entries. ECX will hold the landing pad,
# not the user ECX: the vDSO pops its saved ECX right after.
sysret32_from_system_call:
	movq RBX(%rsp), %rbx
	movq RBP(%rsp), %rbp
	movq EFLAGS(%rsp), %r11
	movq RIP(%rsp), %rcx
	addq $RAX, %rsp			# skip r15..r8
	popq %rax
	popq %rdx			# skip pt_regs->cx
	popq %rdx
	popq %rsi
	popq %rdi
	movq RSP-ORIG_RAX(%rsp), %rsp
entry_SYSRETL_compat_unsafe_stack:
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	swapgs
	sysretl
entry_SYSRETL_compat_end:
	int3

# ---------------------------------------------------------------------------
# INT $0x80: arch/x86/entry/entry_64.S idtentry/error_entry/error_return (6.7)
# ---------------------------------------------------------------------------

# idtentry IA32_SYSCALL_VECTOR asm_int80_emulation int80_emulation. The CPU
# switched to TSS.sp0 (the entry stack) and pushed SS, RSP, RFLAGS, CS, RIP.
asm_int80_emulation:
	cld
	pushq $-1			# pt_regs->orig_ax: no system call to restart
	call error_entry
	movq %rax, %rsp			# the copy of pt_regs on the task stack
	movq %rsp, %rdi
	call int80_emulation
	jmp error_return

# PUSH_AND_CLEAR_REGS save_ret=1, then from user mode: SWAPGS and move pt_regs
# to the task stack (sync_regs). Returns the pt_regs to use in RAX.
error_entry:
	pushq %rsi
	movq 8(%rsp), %rsi		# the return address
	movq %rdi, 8(%rsp)		# pt_regs->di in its place
	pushq %rdx
	pushq %rcx
	pushq %rax
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	pushq %rsi			# the return address back on top
	xorl %esi, %esi
	xorl %edx, %edx
	xorl %ecx, %ecx
	xorl %r8d, %r8d
	xorl %r9d, %r9d
	xorl %r10d, %r10d
	xorl %r11d, %r11d
	xorl %ebx, %ebx
	xorl %ebp, %ebp
	xorl %r12d, %r12d
	xorl %r13d, %r13d
	xorl %r14d, %r14d
	xorl %r15d, %r15d
	testb $3, CS+8(%rsp)
	jz .Lerror_kernelspace
	swapgs
	leaq 8(%rsp), %rdi
	jmp sync_regs
.Lerror_kernelspace:
	leaq 8(%rsp), %rax		# from the kernel: stay on this stack
	ret

# Stand-in for arch/x86/kernel/traps.c sync_regs(): copy pt_regs to the top of
# the task stack (pcpu_hot.top_of_stack - sizeof(pt_regs)) unless already there.
sync_regs:
	movq %gs:PCPU_top_of_stack, %rax
	subq $PTREGS_SIZE, %rax
	cmpq %rdi, %rax
	je 1f
	movq %rdi, %rsi
	movq %rax, %rdi
	movl $PTREGS_SIZE/8, %ecx
	rep movsq
1:	ret

error_return:
	testb $3, CS(%rsp)
	jz restore_regs_and_return_to_kernel
	jmp swapgs_restore_regs_and_return_to_usermode

restore_regs_and_return_to_kernel:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rax
	popq %rcx
	popq %rdx
	popq %rsi
	popq %rdi
	addq $8, %rsp
	iretq

# ---------------------------------------------------------------------------
# Stand-ins for arch/x86/entry/common.c (6.7), IA32 part
# ---------------------------------------------------------------------------

# int80_emulation(regs): orig_ax = the 32-bit system call number, ax = -ENOSYS,
# then the call with interrupts on; returns through error_return (IRET).
int80_emulation:
	movl RAX(%rdi), %esi
	movq %rsi, ORIG_RAX(%rdi)
	movq $-ENOSYS, RAX(%rdi)
	sti
	call do_syscall_32_irqs_on
	cli
	ret

# do_SYSENTER_32(regs): SYSENTER lost the user ESP (the vDSO left it in EBP)
# and cleared IF, which was set in user mode.
do_SYSENTER_32:
	movq RBP(%rdi), %rax
	movq %rax, RSP(%rdi)
	orq $X86_EFLAGS_IF, EFLAGS(%rdi)
	# fall through: return do_fast_syscall_32(regs)

# do_fast_syscall_32(regs): regs->ip = the vDSO's int80_landing_pad; fetch
# EBP (arg 6) from the user stack where the vDSO pushed it; run the call; then
# return 1 (SYSRETL) if CS, SS, IP and no RF/TF allow it, else 0 (IRET).
do_fast_syscall_32:
	pushq %rbx
	movq %gs:PCPU_current_task, %rax
	movq TASK_mm_context_vdso(%rax), %rbx
	addq vdso_image_32, %rbx	# landing_pad
	movq %rbx, RIP(%rdi)
	movl RSP(%rdi), %eax		# (u32)regs->sp
	movl (%rax), %eax		# __get_user: the EBP the vDSO saved
	movl %eax, RBP(%rdi)
	sti
	movl ORIG_RAX(%rdi), %esi
	call do_syscall_32_irqs_on
	cli
	cmpq $__USER32_CS, CS(%rdi)
	jne 2f
	cmpq $__USER_DS, SS(%rdi)
	jne 2f
	cmpq %rbx, RIP(%rdi)
	jne 2f
	testq $(X86_EFLAGS_RF|X86_EFLAGS_TF), EFLAGS(%rdi)
	jnz 2f
	movl $1, %eax
	popq %rbx
	ret
2:	xorl %eax, %eax
	popq %rbx
	ret

# do_syscall_32_irqs_on(regs, nr): dispatch through ia32_sys_call_table when nr
# is in range; otherwise pt_regs->ax keeps -ENOSYS.
do_syscall_32_irqs_on:
	cmpl $IA32_NR_syscalls, %esi
	jae 1f
	pushq %rdi
	call *ia32_sys_call_table(,%rsi,8)
	popq %rdi
	movq %rax, RAX(%rdi)
1:	ret

# The same system calls for 32-bit callers (__ia32_sys_*).
__ia32_sys_getpid:
	movq %gs:PCPU_current_task, %rax
	movslq TASK_tgid(%rax), %rax
	ret

__ia32_sys_gettid:
	movq %gs:PCPU_current_task, %rax
	movslq TASK_pid(%rax), %rax
	ret

__ia32_sys_getuid:
	movq %gs:PCPU_current_task, %rax
	movl TASK_uid(%rax), %eax
	ret

__ia32_sys_ni_syscall:
	movq $-ENOSYS, %rax
	ret
