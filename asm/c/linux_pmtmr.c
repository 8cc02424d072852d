/* linux_pmtmr.c - read the timer the way Linux does: the C counterpart of asm/linux_pmtmr.asm.
 *
 * After torvalds/linux drivers/clocksource/acpi_pm.c and include/linux/acpi_pmtmr.h (their logic, not
 * their text).  Linux takes the port from the FADT (arch/x86/kernel/acpi/boot.c, acpi_parse_fadt:
 * X_PM_TMR_BLK in a revision-2 or later FADT when it is an I/O address, else PM_TMR_BLK), ignores
 * TMR_VAL_EXT and always masks to 24 bits (ACPI_PM_MASK); elapsed time is (now - last) & mask
 * (kernel/time/timekeeping_internal.h, clocksource_delta).  This guest, as the NASM one:
 *   - measures a 10 ms span across the 24-bit wrap (the counter starts 256 ticks below it) and checks the
 *     masked elapsed ticks;
 *   - runs the boot-time consistency check of init_acpi_pm_clocksource: a later read may be smaller than
 *     an earlier one only just after a wrap (below 0xFFF); off the virtual clock a pair that steps forward
 *     modulo 2^24 across the wrap (a host pause there) is read again, up to CONSISTENCY_ATTEMPTS times;
 *   - reads through acpi_pm_read_verified, which reads three times and retries while the middle value is
 *     out of order.  Linux needs it on chipsets whose reads are not latched (PIIX4 before revision 3,
 *     acpi_pm_check_blacklist); the harness says so with PM_TIMER_UNLATCHED.  Elsewhere a sound timer
 *     never needs a retry, and the guest checks that too.
 * It passes at both widths: a 32-bit counter carrying into bit 24 looks like a wrap once masked.
 */
// harness: --timer-start 0xFFFF00
// expect: bhyve=fail no-pm-timer=skip
// expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
// expect: acrn-prelaunched=skip intel-pch-tim-dis=fail
#include "harness.h"

#define ACPI_PM_MASK 0x00FFFFFFu
#define MONOTONICITY_CHECKS 10
#define READ_CHECKS 10000
#define VERIFIED_READS 1000
#define SPAN_LOOPS 100000 /* 10 ms: across the wrap */
#if CLOCK_VIRTUAL
#define CONSISTENCY_ATTEMPTS 1
#else
#define CONSISTENCY_ATTEMPTS 10
#endif

/* Under the virtual clock the span's length is known (asm/include/span.inc): from the first read
 * (included) to the last (excluded) run the IN, two MOVs and the loop of SPIN_BODY instructions. */
#define SPIN_BODY 100 /* 98 nops, dec, jnz */
#define SPAN_INSTRUCTIONS(loops) (3ull + (unsigned long long)(loops) * SPIN_BODY)
#define SPAN_NS(loops) (SPAN_INSTRUCTIONS(loops) * INSN_NS + IO_NS)
#define EXPECTED_TICKS(loops) ((uint32_t)(SPAN_NS(loops) * PM_TMR_HZ / 1000000000ull))

struct span {
	uint32_t first, last; /* raw reads */
};

/* One asm statement, so that the instructions between the reads are exactly span.inc's. */
static struct span measure_raw_span(uint16_t port, uint32_t loops)
{
	struct span span;
	__asm__ volatile("inl %%dx, %%eax\n\t"
			 "movl %%eax, %[first]\n\t"
			 "movl %[loops], %%ecx\n"
			 "1:\n\t"
			 ".rept 98\n\tnop\n\t.endr\n\t"
			 "decl %%ecx\n\t"
			 "jnz 1b\n\t"
			 "inl %%dx, %%eax"
			 : "=&a"(span.last), [first] "=&r"(span.first)
			 : "d"(port), [loops] "ri"(loops)
			 : "ecx", "cc");
	return span;
}

/* Under the virtual clock the TSC counts nanoseconds (harness/core/clock.py, TSC_HZ).  A platform whose
 * timer steps in whole microseconds (Bochs) or 100 ns units (Hyper-V) sees one step more or fewer in the
 * same span depending on where in a microsecond the span starts; what the compiler puts before the span
 * would then decide the verdict.  So the span starts just after a microsecond begins, in every build. */
#define PHASE_WINDOW_NS 40

static void start_of_a_microsecond(void)
{
	while ((uint32_t)rdtsc() % 1000u >= PHASE_WINDOW_NS)
		;
}

/* Off the virtual clock the counter starts wherever it is: wait until it is within 2^16 ticks of the
 * wrap, then read until the low 24 bits have wrapped.  The read found near the wrap is the first one
 * itself: were it a read of its own, a host pause between the two could put it past the wrap. */
static struct span measure_span_across_the_wrap(uint16_t port)
{
#if CLOCK_VIRTUAL
	start_of_a_microsecond();
	return measure_raw_span(port, SPAN_LOOPS);
#else
	struct span span;
	do
		span.first = inl(port);
	while ((span.first & ACPI_PM_MASK) < 0x00FF0000u);
	while (((inl(port) ^ span.first) & 0x00800000u) == 0)
		;
	span.last = inl(port);
	return span;
#endif
}

static void check_span_ticks(uint32_t ticks, const char *what)
{
#if CLOCK_VIRTUAL
	uint32_t expected = EXPECTED_TICKS(SPAN_LOOPS);
	report_info("measured %u ticks, expected %u", ticks, expected);
	report(ticks - (expected - 1) <= 2, "%s", what); /* within one tick either side */
#else
	/* A span of unknown length: a forward step, more than none, less than half the 24-bit span. */
	report_info("measured %u ticks", ticks);
	report(ticks - 1 < 0x007FFFFFu, "%s", what);
#endif
}

/* init_acpi_pm_clocksource: each of MONOTONICITY_CHECKS pairs must move within READ_CHECKS reads, and
 * never backwards except just past a wrap. */
static bool boot_time_consistency_check(uint16_t port)
{
	unsigned inconsistencies = 0;
	for (int check = 0; check < MONOTONICITY_CHECKS; check++) {
		for (int attempt = CONSISTENCY_ATTEMPTS; attempt > 0; attempt--) {
			uint32_t value1 = inl(port) & ACPI_PM_MASK, value2 = value1;
			int reads = 0;
			while (value2 == value1 && reads++ < READ_CHECKS)
				value2 = inl(port) & ACPI_PM_MASK;
			if (value2 == value1) {
				inconsistencies++; /* the timer did not move in READ_CHECKS reads */
				break;
			}
			if (value2 > value1 || value2 < 0xFFF)
				break; /* later and larger, or smaller only just past a wrap */
			bool forward = ((value2 - value1) & ACPI_PM_MASK) < 0x00800000u;
			if (!forward || attempt == 1 || CLOCK_VIRTUAL) {
				inconsistencies++; /* a step back, modulo 2^24 too; or no attempt left */
				break;
			}
			/* forward across the wrap: stopped there? read the pair again */
		}
	}
	return inconsistencies == 0;
}

static unsigned retries;

/* acpi_pm_read_verified: the middle of three reads with no inversion. */
static uint32_t acpi_pm_read_verified(uint16_t port)
{
	for (;;) {
		uint32_t v1 = inl(port) & ACPI_PM_MASK;
		uint32_t v2 = inl(port) & ACPI_PM_MASK;
		uint32_t v3 = inl(port) & ACPI_PM_MASK;
		if ((v1 > v2 && v1 < v3) || (v2 > v3 && v2 < v1) || (v3 > v1 && v3 < v2)) {
			retries++;
			continue;
		}
		return v2;
	}
}

int main(void)
{
	uint16_t port = pm_timer_require(true).port;

	struct span span = measure_span_across_the_wrap(port);
	report_info("the span runs from 0x%08x to 0x%08x", span.first, span.last);
	check_span_ticks((span.last - span.first) & ACPI_PM_MASK,
			 "elapsed ticks across the 24-bit wrap, masked as Linux does");

	report(boot_time_consistency_check(port), "the boot-time consistency check of init_acpi_pm_clocksource passes");

	unsigned steps_back = 0;
	uint32_t last = acpi_pm_read_verified(port);
	for (int read = 0; read < VERIFIED_READS; read++) {
		uint32_t now = acpi_pm_read_verified(port);
		if (((now - last) & ACPI_PM_MASK) >= 1u << 23)
			steps_back++; /* (now - last) & mask: a step back is near 2^24 */
		last = now;
	}
	report_info("acpi_pm_read_verified read again %u times in %u reads", retries, VERIFIED_READS);
	report(steps_back == 0, "acpi_pm_read_verified never returns a value behind the one before");
#if !PM_TIMER_UNLATCHED
	report(retries == 0, "acpi_pm_read_verified never needs to read again");
#endif
	return report_summary();
}
