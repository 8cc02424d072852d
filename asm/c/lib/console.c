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

/* One conversion's flags, width, precision and size, as C's printf reads them (C11 7.21.6.1). */
struct conversion {
	bool left;      /* '-': pad on the right */
	bool zeros;     /* '0': pad with zeros after the sign or 0x, not with blanks before them */
	bool alternate; /* '#': 0x before a %x that is not zero */
	bool plus;      /* '+': a sign on a %d that is not negative; ' ': a blank there */
	bool blank;
	int width;      /* the fewest characters to print */
	int precision;  /* the fewest digits of a number, the most characters of a %s; -1 when not given */
	int size;       /* -2 hh, -1 h, 0 int, 1 l (and z: size_t is an unsigned long on both ABIs), 2 ll */
};

#define MAX_FIELD 4096 /* a larger width or precision is read as this: it is a mistake, not a layout */

static int repeat(char c, int count)
{
	for (int i = 0; i < count; i++)
		putchar(c);
	return count > 0 ? count : 0;
}

/* prefix (a sign, 0x), then zeros, then the text, padded to the width as the flags say. */
static int print_field(const struct conversion *spec, const char *prefix, int zeros, const char *text, int length)
{
	int prefix_length = 0;
	while (prefix[prefix_length])
		prefix_length++;
	int fill = spec->width - prefix_length - zeros - length, printed = 0;
	if (!spec->left && !spec->zeros)
		printed += repeat(' ', fill);
	puts(prefix);
	if (!spec->left && spec->zeros)
		printed += repeat('0', fill);
	printed += repeat('0', zeros);
	for (int i = 0; i < length; i++)
		putchar(text[i]);
	if (spec->left)
		printed += repeat(' ', fill);
	return printed + prefix_length + length;
}

static int print_number(const struct conversion *spec, uint64_t value, unsigned base, bool upper,
			const char *prefix)
{
	char digits[24], text[24];
	int count = 0;
	const char *names = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	/* C prints no digit for a zero of precision 0: "%.0d" of 0 is empty. */
	while (value || (count == 0 && spec->precision != 0)) {
		unsigned digit = base == 10 ? next_decimal_digit(&value) : (unsigned)(value & 0xF);
		if (base == 16)
			value >>= 4;
		digits[count++] = names[digit];
	}
	for (int i = 0; i < count; i++)
		text[i] = digits[count - 1 - i];
	return print_field(spec, prefix, spec->precision > count ? spec->precision - count : 0, text, count);
}

static int read_decimal(const char **at)
{
	int value = 0;
	for (; **at >= '0' && **at <= '9'; (*at)++)
		value = value < MAX_FIELD ? value * 10 + (**at - '0') : MAX_FIELD;
	return value < MAX_FIELD ? value : MAX_FIELD;
}

/* Reads a conversion's flags, width, precision and size; *at is left on its conversion letter. */
static struct conversion read_conversion(const char **at)
{
	struct conversion spec = { .precision = -1 };
	for (;; (*at)++) {
		if (**at == '-')
			spec.left = true;
		else if (**at == '0')
			spec.zeros = true;
		else if (**at == '#')
			spec.alternate = true;
		else if (**at == '+')
			spec.plus = true;
		else if (**at == ' ')
			spec.blank = true;
		else
			break;
	}
	spec.width = read_decimal(at);
	if (**at == '.') {
		(*at)++;
		spec.precision = read_decimal(at);
		spec.zeros = false; /* a precision gives the zeros of a number: the 0 flag is ignored (7.21.6.1) */
	}
	for (; **at == 'h'; (*at)++)
		spec.size--;
	for (; **at == 'l'; (*at)++)
		spec.size++;
	if (**at == 'z')
		spec.size = 1, (*at)++;
	return spec;
}

static int64_t signed_argument(int size, va_list *args)
{
	if (size >= 2)
		return va_arg(*args, long long);
	if (size == 1)
		return va_arg(*args, long);
	int value = va_arg(*args, int); /* char and short arrive as int: cut back to their size */
	return size == -2 ? (signed char)value : size == -1 ? (short)value : value;
}

static uint64_t unsigned_argument(int size, va_list *args)
{
	if (size >= 2)
		return va_arg(*args, unsigned long long);
	if (size == 1)
		return va_arg(*args, unsigned long);
	unsigned value = va_arg(*args, unsigned);
	return size == -2 ? (unsigned char)value : size == -1 ? (unsigned short)value : value;
}

/* C's printf for what a guest prints: %d %i %u %x %X %p %s %c %%, the flags - 0 # + and blank, a width, a
 * precision, and the sizes hh h l ll z.  No %o, %e, %f, %g, %n and no * width: such a conversion is
 * printed as written ("%f") and takes no argument, so the arguments after it are read as the ones before. */
int vprintf(const char *format, va_list args)
{
	int printed = 0;
	va_list arguments; /* a copy: a va_list parameter is an array on x86-64, and cannot be passed on by address */
	va_copy(arguments, args);
	for (const char *at = format; *at; at++) {
		if (*at != '%') {
			putchar(*at);
			printed++;
			continue;
		}
		const char *directive = at++;
		struct conversion spec = read_conversion(&at);
		switch (*at) {
		case 'd':
		case 'i': {
			int64_t value = signed_argument(spec.size, &arguments);
			uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
			const char *sign = value < 0 ? "-" : spec.plus ? "+" : spec.blank ? " " : "";
			printed += print_number(&spec, magnitude, 10, false, sign);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t value = unsigned_argument(spec.size, &arguments);
			const char *prefix = spec.alternate && value && *at != 'u' ? (*at == 'x' ? "0x" : "0X") : "";
			printed += print_number(&spec, value, *at == 'u' ? 10 : 16, *at == 'X', prefix);
			break;
		}
		case 'p':
			spec.precision = -1;
			printed += print_number(&spec, (uintptr_t)va_arg(arguments, void *), 16, false, "0x");
			break;
		case 's': {
			const char *text = va_arg(arguments, const char *);
			if (!text)
				text = "(null)";
			int length = 0;
			while (text[length] && (spec.precision < 0 || length < spec.precision))
				length++;
			spec.zeros = false;
			printed += print_field(&spec, "", 0, text, length);
			break;
		}
		case 'c': {
			char c = (char)va_arg(arguments, int);
			spec.zeros = false;
			printed += print_field(&spec, "", 0, &c, 1);
			break;
		}
		case '%':
			putchar('%');
			printed++;
			break;
		case '\0': /* a format that ends in its directive: shown as written */
			puts(directive);
			va_end(arguments);
			return printed + (int)(at - directive);
		default:
			for (; directive <= at; directive++, printed++)
				putchar(*directive);
		}
	}
	va_end(arguments);
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
