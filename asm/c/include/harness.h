/* harness.h - the guest library: what a C guest needs to run in the harness and on a PC.
 *
 * The C counterpart of asm/include: start-up (lib/start.S), console output
 * and reports (lib/console.c, lib/report.c), port I/O and the TSC (here),
 * ACPI discovery (lib/acpi.c) and the TSC-bracketed timer read (lib/tsc.c).
 * Its shape follows kvm-unit-tests' lib/libcflat.h and lib/report.c.
 *
 * A guest is one file with a main() that reports and returns:
 *
 *     #include "harness.h"
 *     int main(void)
 *     {
 *             report(1 + 1 == 2, "arithmetic works");
 *             return report_summary();
 *     }
 *
 * The harness compiles it with -D macros for the machine it runs on
 * (TIMER_PORT, TIMER_WIDTH, LOAD_ADDRESS, START_MODE, CLOCK_VIRTUAL, INSN_NS,
 * IO_NS, HAS_PM_TIMER, PM_TIMER_UNLATCHED...: see docs/guests.md), as it
 * assembles a NASM guest.
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The protocol (asm/include/report.inc): each byte written to 0xE9 is one
 * character of output; the first value written to 0xF4 is the exit code,
 * 0 a pass, 77 a skip, anything else a fail. */
#define CONSOLE_PORT 0xE9
#define EXIT_PORT 0xF4
#define SKIP_EXIT_CODE 77
#define COM1_PORT 0x3F8

#define PM_TMR_HZ 3579545u /* ACPI 4.8.3.3 */

/* ---- ports and the TSC ------------------------------------------------ */

static inline uint8_t inb(uint16_t port)
{
	uint8_t value;
	__asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t value;
	__asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t value;
	__asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
	return value;
}

static inline void outb(uint16_t port, uint8_t value)
{
	__asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t value)
{
	__asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t value)
{
	__asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint64_t rdtsc(void)
{
	uint32_t low, high;
	__asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
	return (uint64_t)high << 32 | low;
}

/* a * b / c for 32-bit values whose quotient fits 32 bits, without the
 * compiler's 64-bit division helpers (a freestanding 32-bit guest has none). */
static inline uint32_t muldiv32(uint32_t a, uint32_t b, uint32_t c)
{
#ifdef __x86_64__
	return (uint32_t)((uint64_t)a * b / c);
#else
	uint32_t quotient, high;
	__asm__("mull %3\n\tdivl %4" : "=a"(quotient), "=&d"(high) : "a"(a), "rm"(b), "rm"(c) : "cc");
	return quotient;
#endif
}

/* ---- console and exit (lib/console.c) ---------------------------------- */

void putchar(int c);
void puts(const char *text); /* no newline added: as the console sees it */
int printf(const char *format, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *format, va_list args);
void exit(int code) __attribute__((noreturn));

/* ---- reports, as kvm-unit-tests' lib/report.c (lib/report.c) ------------ */

void report(bool pass, const char *format, ...) __attribute__((format(printf, 2, 3)));
void report_xfail(bool xfail, bool pass, const char *format, ...) __attribute__((format(printf, 3, 4)));
void report_skip(const char *format, ...) __attribute__((format(printf, 1, 2)));
void report_info(const char *format, ...) __attribute__((format(printf, 1, 2)));
int report_summary(void);
void finish(void) __attribute__((noreturn)); /* exit(report_summary()): FINISH in report.inc */

/* ---- ACPI (lib/acpi.c) ------------------------------------------------- */

/* FADT fields a timer user needs (ACPI 5.2.9, table 5.9): byte offsets. */
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_PM_TMR_LEN 91
#define FADT_FLAGS 112
#define FADT_X_PM_TMR_BLK 208 /* Generic Address Structure: space, width, offset, size, address */
#define TMR_VAL_EXT (1u << 8)
#define GAS_SYSTEM_IO 1

const uint8_t *acpi_find_rsdp(void);      /* the BIOS area's "RSD PTR ", checksum checked; NULL if none */
const uint8_t *acpi_find_fadt(void);      /* as an ACPI 2.0 OS: through the XSDT if usable, else the RSDT */
const uint8_t *acpi_find_rsdt_fadt(void); /* as ACPI 1.0 readers (SeaBIOS): through the RSDT only */
const uint8_t *acpi_find_xsdt_fadt(void); /* through the XSDT only */
uint32_t acpi_u32(const uint8_t *table, unsigned offset); /* a little-endian field, unaligned */

struct pm_timer {
	uint16_t port;  /* 0: the FADT names no timer */
	int width;      /* 24, or 32 when TMR_VAL_EXT is set */
	uint32_t mask;
};

/* The timer a FADT names; prefer_x_blk takes X_PM_TMR_BLK from a revision-2
 * or later FADT when it is in I/O space and not zero, as Linux's
 * acpi_parse_fadt and ACPICA do. */
struct pm_timer pm_timer_from_fadt(const uint8_t *fadt, bool prefer_x_blk);
/* fadt_timer.inc's start: FAIL and finish without a FADT; SKIP and finish when it names no port. */
struct pm_timer pm_timer_require(bool prefer_x_blk);

/* ---- the TSC-bracketed timer read (lib/tsc.c, after asm/include/tsc.inc) -- */

struct timed_read {
	uint32_t value;      /* the timer */
	uint32_t tsc_before; /* the TSC's low 32 bits just before the read */
	uint32_t tsc_after;  /* and just after */
};

struct tsc_calibration {
	uint32_t ticks; /* timer ticks ... */
	uint32_t tsc;   /* ... in this many TSC ticks */
};

struct step_judgement {
	uint32_t step;  /* the later read minus the earlier, masked */
	uint32_t least; /* the fewest ticks the TSC allows, less the slack */
	uint32_t most;  /* the most, plus the slack */
	bool sound;     /* least <= step <= most */
};

struct timed_read pm_timer_read_timed(const struct pm_timer *timer);
struct tsc_calibration tsc_calibrate(const struct pm_timer *timer); /* reports whether the TSC runs */
uint32_t tsc_span_to_ticks(const struct tsc_calibration *calibration, uint32_t tsc_span);
struct step_judgement judge_step(const struct pm_timer *timer, const struct tsc_calibration *calibration,
				 const struct timed_read *earlier, const struct timed_read *later);
uint32_t brackets_in_ticks(const struct tsc_calibration *calibration, const struct timed_read *earlier,
			   const struct timed_read *later);

/* ---- what the compiler may call on its own (lib/string.c) -------------- */

void *memset(void *to, int byte, size_t count);
void *memcpy(void *to, const void *from, size_t count);
void *memmove(void *to, const void *from, size_t count);
int memcmp(const void *a, const void *b, size_t count);

#endif
