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
	jmp	isr_common
	.endm

	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21
	vec	\n
	.endr

isr_common:
	movq	%rsp, %rdi
	call	guest_exception
2:	hlt
	jmp	2b

/* iretq into ring 3: rdi = entry, rsi = user stack, rdx = user CS, rcx = user SS. */
	.globl	enter_user
enter_user:
	pushq	%rcx
	pushq	%rsi
	pushq	$0x3002		/* IOPL=3 so port I/O works from ring 3; IF=0: tests poll */
	pushq	%rdx
	pushq	%rdi
	iretq

	.section .bss
	.balign 16
	.space 16384
	.globl kstack_top
kstack_top:
	.section .note.GNU-stack, "", @progbits
