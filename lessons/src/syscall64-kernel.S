# Kernel text for the lessons "syscall64" and "pti": the linux-x86_64 preset's
# entry_SYSCALL_64 (Linux 6.7 arch/x86/entry/entry_64.S) with the two CR3
# switches of page-table isolation put back in, as they run on a CPU that needs
# PTI (X86_FEATURE_PTI set, so the ALTERNATIVEs are patched to run the switch)
# and has no PCID (so the PCID branch of SWITCH_TO_USER_CR3 is jumped over;
# it is left out here). The macros are those of arch/x86/entry/calling.h (6.7).
#
# Everything else is the preset's: do_syscall_64 and the system calls are C in
# the kernel and short hand-written stand-ins here. Speculation mitigations,
# ENDBR and the unwind annotations are left out, as in the preset.
#
# The preset's page tables are the PTI pair: the user half of the 8 KiB PGD
# maps only what the entry code needs before the switch (the entry text, the
# per-CPU TSS for the sp2 scratch slot, the entry stack), so each CR3 write
# below changes what the next instruction can reach.
#
# Build: as --64 -o k.o THIS && ld -m elf_x86_64 -Ttext=0xffffffff81000000 -o k.elf k.o

	.code64
	.text

# arch/x86/include/asm/segment.h
	.equ __KERNEL_CS, 0x10
	.equ __KERNEL_DS, 0x18
	.equ __USER32_CS, 0x23
	.equ __USER_DS, 0x2b
	.equ __USER_CS, 0x33
	.equ ENOSYS, 38
# NR_syscalls for x86_64 in Linux 6.7 (syscall_64.tbl ends at 456 futex_requeue)
	.equ NR_syscalls, 457
# Per-CPU offsets in this preset's per-CPU area (addressed through %gs):
# pcpu_hot.current_task at 0x0, pcpu_hot.top_of_stack at 0x18, cpu_tss_rw at 0x4000
	.equ PCPU_current_task, 0x0
	.equ PCPU_top_of_stack, 0x18
	.equ cpu_tss_rw, 0x4000
	.equ TSS_sp0, 4
	.equ TSS_sp2, 0x14
# struct pt_regs (arch/x86/include/asm/ptrace.h)
	.equ R15, 0x00
	.equ RBP, 0x20
	.equ RBX, 0x28
	.equ R11, 0x30
	.equ RAX, 0x50
	.equ RCX, 0x58
	.equ RDI, 0x70
	.equ ORIG_RAX, 0x78
	.equ RIP, 0x80
	.equ CS, 0x88
	.equ EFLAGS, 0x90
	.equ RSP, 0x98
	.equ SS, 0xa0
	.equ X86_EFLAGS_TF, 0x100
	.equ X86_EFLAGS_RF, 0x10000
# arch/x86/entry/calling.h (6.7): the kernel and user PGDs are the two 4 KiB
# halves of one 8 KiB allocation; bit 12 of CR3 selects the user half, bit 11
# the user PCID (unused without PCID, but cleared on entry all the same).
	.equ PAGE_SHIFT, 12
	.equ PTI_USER_PGTABLE_MASK, (1 << PAGE_SHIFT)
	.equ PTI_USER_PCID_MASK, (1 << 11)
	.equ PTI_USER_PGTABLE_AND_PCID_MASK, (PTI_USER_PCID_MASK | PTI_USER_PGTABLE_MASK)

	.macro SWITCH_TO_KERNEL_CR3 scratch_reg
	mov %cr3, \scratch_reg
	andq $(~PTI_USER_PGTABLE_AND_PCID_MASK), \scratch_reg
	mov \scratch_reg, %cr3
	.endm

	.macro SWITCH_TO_USER_CR3_STACK scratch_reg
	pushq %rax
	mov %cr3, \scratch_reg
	orq $PTI_USER_PGTABLE_MASK, \scratch_reg
	mov \scratch_reg, %cr3
	popq %rax
	.endm

# Addresses elsewhere in the preset
	.equ sys_call_table, 0xffffffff82200000
# Simplified task_struct (see the preset): pid 0x10, tgid 0x14, uid 0x18
	.equ TASK_pid, 0x10
	.equ TASK_tgid, 0x14
	.equ TASK_uid, 0x18

entry_SYSCALL_64:
	swapgs
	movq %rsp, %gs:cpu_tss_rw+TSS_sp2
	SWITCH_TO_KERNEL_CR3 %rsp
	movq %gs:PCPU_top_of_stack, %rsp
entry_SYSCALL_64_safe_stack:
	pushq $__USER_DS
	pushq %gs:cpu_tss_rw+TSS_sp2
	pushq %r11
	pushq $__USER_CS
	pushq %rcx
entry_SYSCALL_64_after_hwframe:
	pushq %rax
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
	movq %rsp, %rdi
	movslq %eax, %rsi
	call do_syscall_64
	testb %al, %al
	jz swapgs_restore_regs_and_return_to_usermode
syscall_return_via_sysret:
	# POP_REGS pop_rdi=0
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
	movq %rsp, %rdi
	movq %gs:cpu_tss_rw+TSS_sp0, %rsp
	pushq RSP-RDI(%rdi)
	pushq (%rdi)
	SWITCH_TO_USER_CR3_STACK %rdi
	popq %rdi
	popq %rsp
entry_SYSRETQ_unsafe_stack:
	swapgs
	sysretq

# The IRET way out, taken when do_syscall_64 says SYSRET is unsafe.
swapgs_restore_regs_and_return_to_usermode:
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
	# (6.7 moves the IRET frame to the entry stack and switches CR3 here too;
	# this lesson does not take this path.)
	swapgs
	iretq

# Stand-in for arch/x86/entry/common.c do_syscall_64(regs, nr) (Linux 6.7).
# In C, syscall_enter_from_user_mode() (kernel/entry/common.c) turns interrupts
# on before the system call runs, and syscall_exit_to_user_mode() turns them off
# again before the return work: the sti and cli below. Between them the
# dispatch through sys_call_table when nr is in range (else pt_regs->ax keeps
# -ENOSYS). Then the SYSRET checks in 6.7's order: RCX == RIP and R11 ==
# RFLAGS, CS/SS the values SYSRET will load, RIP below TASK_SIZE_MAX (a range
# test, not a canonical test: it also refuses the top user page, and every
# non-canonical address lies above the limit), no TF/RF.
# TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE with 4-level paging
# (arch/x86/include/asm/page_64_types.h, 6.7).
	.equ TASK_SIZE_MAX, 0x7ffffffff000
do_syscall_64:
	sti
	cmpq $NR_syscalls, %rsi
	jae 1f
	pushq %rdi
	call *sys_call_table(,%rsi,8)
	popq %rdi
	movq %rax, RAX(%rdi)
1:	cli
	movq RCX(%rdi), %rcx
	cmpq %rcx, RIP(%rdi)
	jne 2f
	movq R11(%rdi), %r11
	cmpq %r11, EFLAGS(%rdi)
	jne 2f
	cmpq $__USER_CS, CS(%rdi)
	jne 2f
	cmpq $__USER_DS, SS(%rdi)
	jne 2f
	movabsq $TASK_SIZE_MAX, %rcx
	cmpq %rcx, RIP(%rdi)
	jae 2f
	testq $(X86_EFLAGS_RF|X86_EFLAGS_TF), %r11
	jnz 2f
	movl $1, %eax
	ret
2:	xorl %eax, %eax
	ret

# kernel/sys.c getpid/gettid/getuid, reduced to reading this preset's task_struct.
__x64_sys_getpid:
	movq %gs:PCPU_current_task, %rax
	movslq TASK_tgid(%rax), %rax
	ret

__x64_sys_gettid:
	movq %gs:PCPU_current_task, %rax
	movslq TASK_pid(%rax), %rax
	ret

__x64_sys_getuid:
	movq %gs:PCPU_current_task, %rax
	movl TASK_uid(%rax), %eax
	ret

__x64_sys_ni_syscall:
	movq $-ENOSYS, %rax
	ret

# entry_64.S, 6.7: the CSTAR target when IA32 emulation is off. syscall_init()
# decides at boot with ia32_enabled() (CONFIG_IA32_EMULATION and the
# ia32_emulation= parameter): CSTAR = entry_SYSCALL_compat if it is on, this
# stub if not; then a 32-bit SYSCALL just returns -ENOSYS. Called ignore_sysret
# before 6.7. Never reached in this lesson (the preset's CSTAR is
# entry_SYSCALL_compat).
entry_SYSCALL32_ignore:
	movl $-ENOSYS, %eax
	sysretl
