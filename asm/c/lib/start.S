/* start.S - from the start the harness gives a guest to main().
 *
 * The harness starts a C guest here, at its load address (the linker script
 * puts .text.start first), in flat 32-bit protected mode (--mode 32) or long
 * mode (--mode 64), interrupts off.  On a PC the boot sector of
 * harness/peers/disk.py brings the CPU from real mode at 0x7C00 into the same
 * flat 32-bit state before it jumps here.  This code sets the stack, clears
 * the BSS (the linker script's __bss_start to __bss_end, 4 bytes at a time), calls main() and
 * exits with what main returns (lib/console.c: exit, port 0xF4).
 */
#define STACK_BYTES 8192

	.section .text.start, "ax"
	.globl _start
_start:
#ifdef __x86_64__
	.code64
#else
	.code32
#endif
	movl $stack_top, %esp
	cld
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $2, %ecx
	xorl %eax, %eax
	rep stosl
	call main
#ifdef __x86_64__
	movl %eax, %edi		/* exit's argument: in a register under the System V AMD64 convention */
#else
	pushl %eax		/* on the stack under the i386 convention */
#endif
	call exit
1:	cli
	hlt
	jmp 1b

	/* After the BSS (the linker script): the stack need not be cleared. */
	.section .stack, "aw", @nobits
	.balign 16
stack_bottom:
	.skip STACK_BYTES
stack_top:
