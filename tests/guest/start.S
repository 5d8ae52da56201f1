/* Entry from the VMM: 64-bit mode, %rsi = boot_params (Linux 64-bit boot protocol). */
	.section .text.start, "ax"
	.globl _start
_start:
	cli
	leaq	kstack_top(%rip), %rsp
	movq	%rsi, %rdi
	call	guest_kernel_main
1:	hlt
	jmp	1b

/* Common exception entry: push the vector number and report it. */
	.macro	vec n
	.globl	isr\n
isr\n:
	.if \n != 8 && \n != 10 && \n != 11 && \n != 12 && \n != 13 && \n != 14 && \n != 17
	pushq	$0
	.endif
	pushq	$\n
	.if \n == 13
	jmp	isr_gp
	.else
	jmp	isr_common
	.endif
	.endm

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21
	vec	\n
	.endr

isr_common:
	movq	%rsp, %rdi
	call	guest_exception
2:	hlt
	jmp	2b

/* #GP: ring 3 port I/O may fault where the host does not honour IOPL (guest_gp). The
 * caller-saved registers are saved so that guest_gp can return to the faulting code. */
isr_gp:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	movq	%rsp, %rdi
	call	guest_gp	/* returns only if it performed the instruction */
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp	/* vector and error code */
	iretq

/* iretq into ring 3: rdi = entry, rsi = user stack, rdx = user CS, rcx = user SS,
 * r8 = RFLAGS (IOPL=3 so port I/O works from ring 3; IF=0: tests poll). */
	.globl	enter_user
enter_user:
	pushq	%rcx
	pushq	%rsi
	pushq	%r8
	pushq	%rdx
	pushq	%rdi
	iretq

	.section .bss
	.balign 16
	.space 16384
	.globl kstack_top
kstack_top:
	.section .note.GNU-stack, "", @progbits
