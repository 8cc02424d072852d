/* console.c - output, printf, and the exit through port 0xF4.
 *
 * Output always goes to the debug console port 0xE9 (QEMU's isa-debugcon,
 * Bochs's port E9 hack, the harness; the harness's Bochs runs read it from
 * Bochs's log of unclaimed ports).  Where no debug console answers there (a
 * read of the port returns 0xE9 where one does: qemu/qemu:
 * hw/char/debugcon.c, readback), it goes to the 16550 UART at COM1 too,
 * found as Linux's serial driver finds one (its scratch register keeps what
 * is written to it).  Not to the UART beside a debug console: the harness
 * shows the two as one console, and each line must appear once.
 */
#include "harness.h"

#define UART_THR 0            /* transmit holding register */
#define UART_LSR 5            /* line status */
#define UART_SCR 7            /* scratch */
#define UART_LSR_THRE (1 << 5) /* room for the next byte */
#define UART_WAIT_LIMIT 100000 /* a UART that never has room does not hang the guest */

enum console_kind { CONSOLE_UNKNOWN, CONSOLE_DEBUGCON, CONSOLE_ALSO_UART, CONSOLE_ONLY_E9 };
static enum console_kind console;

static bool uart_present(void)
{
	outb(COM1_PORT + UART_SCR, 0xA5);
	if (inb(COM1_PORT + UART_SCR) != 0xA5)
		return false;
	outb(COM1_PORT + UART_SCR, 0x5A);
	return inb(COM1_PORT + UART_SCR) == 0x5A;
}

static enum console_kind find_console(void)
{
	if (inb(CONSOLE_PORT) == CONSOLE_PORT)
		return CONSOLE_DEBUGCON;
	return uart_present() ? CONSOLE_ALSO_UART : CONSOLE_ONLY_E9;
}

void putchar(int c)
{
	if (console == CONSOLE_UNKNOWN)
		console = find_console();
	outb(CONSOLE_PORT, (uint8_t)c);
	if (console == CONSOLE_ALSO_UART) {
		for (int wait = 0; wait < UART_WAIT_LIMIT; wait++)
			if (inb(COM1_PORT + UART_LSR) & UART_LSR_THRE)
				break;
		outb(COM1_PORT + UART_THR, (uint8_t)c);
	}
}

void puts(const char *text)
{
	while (*text)
		putchar(*text++);
}

/* The next digit of *value in base 10, *value divided by ten: no 64-bit
 * division helper is linked into a 32-bit guest, so the high half is
 * divided first and the remainder carried into the low half's divide. */
static unsigned next_decimal_digit(uint64_t *value)
{
#ifdef __x86_64__
	unsigned digit = (unsigned)(*value % 10);
	*value /= 10;
	return digit;
#else
	uint32_t high = (uint32_t)(*value >> 32), low = (uint32_t)*value, remainder = high % 10;
	high /= 10;
	__asm__("divl %4" : "=a"(low), "=d"(remainder) : "a"(low), "d"(remainder), "rm"(10u) : "cc");
	*value = (uint64_t)high << 32 | low;
	return remainder;
#endif
}

static int print_number(uint64_t value, unsigned base, bool negative, int width, char pad)
{
	char digits[24];
	int count = 0, printed = 0;
	do {
		unsigned digit;
		if (base == 10) {
			digit = next_decimal_digit(&value);
		} else {
			digit = (unsigned)(value & 0xF);
			value >>= 4;
		}
		digits[count++] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
	} while (value);
	if (negative)
		digits[count++] = '-';
	for (; width > count; width--, printed++)
		putchar(pad);
	while (count)
		putchar(digits[--count]), printed++;
	return printed;
}

/* %d %i %u %x %p %s %c %%, with a width, a 0 flag, and the l and ll sizes. */
int vprintf(const char *format, va_list args)
{
	int printed = 0;
	for (const char *at = format; *at; at++) {
		if (*at != '%') {
			putchar(*at);
			printed++;
			continue;
		}
		char pad = ' ';
		int width = 0, longs = 0;
		if (*++at == '0')
			pad = '0', at++;
		while (*at >= '0' && *at <= '9')
			width = width * 10 + (*at++ - '0');
		while (*at == 'l')
			longs++, at++;
		switch (*at) {
		case 'd':
		case 'i': {
			int64_t value = longs >= 2 ? va_arg(args, long long) : longs ? va_arg(args, long) : va_arg(args, int);
			uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
			printed += print_number(magnitude, 10, value < 0, width, pad);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t value = longs >= 2 ? va_arg(args, unsigned long long)
				       : longs ? va_arg(args, unsigned long) : va_arg(args, unsigned);
			printed += print_number(value, *at == 'u' ? 10 : 16, false, width, pad);
			break;
		}
		case 'p':
			puts("0x");
			printed += 2 + print_number((uintptr_t)va_arg(args, void *), 16, false, width, pad);
			break;
		case 's':
			for (const char *text = va_arg(args, const char *); *text; text++, printed++)
				putchar(*text);
			break;
		case 'c':
			putchar(va_arg(args, int));
			printed++;
			break;
		case '\0':
			return printed;
		default:
			putchar(*at);
			printed++;
		}
	}
	return printed;
}

int printf(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	int printed = vprintf(format, args);
	va_end(args);
	return printed;
}

void exit(int code)
{
	outb(EXIT_PORT, (uint8_t)code);
	for (;;) /* the harness ends the run at the exit write; a PC without the port stops here */
		__asm__ volatile("cli; hlt");
}
