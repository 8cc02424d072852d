/* linux_acpi_pm.c - Linux's acpi_pm clocksource: the boot-time check, the verified read, the 24-bit mask.
 *
 * torvalds/linux drivers/clocksource/acpi_pm.c, include/linux/acpi_pmtmr.h:
 *   - The port is pmtmr_ioport, which arch/x86/kernel/acpi/boot.c
 *     (acpi_parse_fadt) takes from X_PM_TMR_BLK in a revision-2 or later FADT
 *     when it is in I/O space, else from PM_TMR_BLK; a zero port means no
 *     clocksource (init_acpi_pm_clocksource returns -ENODEV: skipped here).
 *   - Every read is masked to 24 bits (read_pmtmr: ACPI_PM_MASK), whatever
 *     TMR_VAL_EXT says, and elapsed time is (now - last) & mask
 *     (kernel/time/timekeeping_internal.h, clocksource_delta).  So a 32-bit
 *     counter that carries into bit 24 looks to Linux like a wrap, and a timer
 *     whose FADT claims 32 bits but wraps at 24 costs Linux nothing.
 *   - init_acpi_pm_clocksource checks the timer ACPI_PM_MONOTONICITY_CHECKS
 *     (10) times: a first read, then up to ACPI_PM_READ_CHECKS (10,000) more
 *     until one differs.  A later value that is larger passes, and so does a
 *     smaller one below 0xFFF (just past a wrap); any other smaller value is
 *     "inconsistent results" and 10,000 equal reads "failed consistency
 *     check": either way the timer is refused (-EINVAL, -ENODEV).  The
 *     udelay(100 * j) between checks is left out: it spreads the checks, it
 *     checks nothing.  verify_pmtmr_rate, which times the timer against the
 *     PIT, is built for 32-bit kernels only; the harness has no PIT.
 *   - acpi_pm_read_verified reads three times and reads again while any one
 *     of the three lies strictly between the other two out of order
 *     ((v1 > v2 && v1 < v3) || (v2 > v3 && v2 < v1) || (v3 > v1 && v3 < v2)),
 *     then returns the middle read.  Linux reads so on chipsets whose timer
 *     is not latched: the PIIX4 before revision 3 (acpi_pm_check_blacklist),
 *     ICH4 and ServerWorks LE (acpi_pm_check_graylist), known by their PCI
 *     IDs.  The harness has no PCI bus; PM_TIMER_UNLATCHED says which
 *     platform that is.
 * What the guest checks, as asm/linux_pmtmr.asm does in NASM:
 *   - a 10 ms span across the 24-bit wrap, masked as Linux does, is as long
 *     as the TSC saw;
 *   - the boot-time check passes.  On a real machine's clock a host that
 *     stops the guest for a millisecond across the wrap makes a forward step
 *     modulo 2^24 that breaks the 0xFFF rule: such a pair is read again, up to
 *     CONSISTENCY_ATTEMPTS times; a step back is never excused;
 *   - acpi_pm_read_verified never returns a value behind the one before, and
 *     on a latched timer never needs to read again.
 * What breaks it: no timer where the FADT names one (a port nothing answers
 * reads all ones and stands still: the boot check refuses it); a timer whose
 * reads step back (the boot check, unless Linux knows the chipset); a rate
 * that is wrong (the span, under the virtual clock).
 */
// harness: --timer-start 0xFFE000
// expect: bhyve=fail no-pm-timer=skip qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip
// expect: acrn=skip acrn-prelaunched=skip intel-pch-tim-dis=fail
#include "catalogue.h"

#define ACPI_PM_MASK 0x00FFFFFFu
#define ACPI_PM_MONOTONICITY_CHECKS 10
#define ACPI_PM_READ_CHECKS 10000
#define JUST_PAST_A_WRAP 0xFFFu
#define VERIFIED_READS 1000
#if CLOCK_VIRTUAL
#define CONSISTENCY_ATTEMPTS 1
#else
#define CONSISTENCY_ATTEMPTS 10
#endif

static uint16_t pmtmr_ioport;
static unsigned verified_retries;

static uint32_t read_pmtmr(void)
{
	return inl(pmtmr_ioport) & ACPI_PM_MASK;
}

static uint32_t acpi_pm_read_verified(void)
{
	uint32_t v1, v2, v3;
	for (;;) {
		v1 = read_pmtmr();
		v2 = read_pmtmr();
		v3 = read_pmtmr();
		bool inverted = (v1 > v2 && v1 < v3) || (v2 > v3 && v2 < v1) || (v3 > v1 && v3 < v2);
		if (!inverted)
			return v2;
		verified_retries++;
	}
}

static bool forward_modulo_2_24(uint32_t from, uint32_t to)
{
	return ((to - from) & ACPI_PM_MASK) < (1u << 23);
}

/* One of init_acpi_pm_clocksource's checks: true when it passes. */
static bool one_consistency_check(void)
{
	for (int attempt = 1;; attempt++) {
		uint32_t value1 = read_pmtmr(), value2 = value1;
		int reads;
		for (reads = 0; reads < ACPI_PM_READ_CHECKS; reads++) {
			value2 = read_pmtmr();
			if (value2 != value1)
				break;
		}
		if (reads == ACPI_PM_READ_CHECKS) {
			report_info("PM-Timer failed consistency check (0x%x): it did not move in %d reads", value1,
				    ACPI_PM_READ_CHECKS);
			return false;
		}
		if (value2 > value1 || value2 < JUST_PAST_A_WRAP)
			return true;
		/* Only a real clock's pause can make this forward step across the wrap: read the pair again. */
		if (!forward_modulo_2_24(value1, value2) || attempt == CONSISTENCY_ATTEMPTS) {
			report_info("PM-Timer had inconsistent results: 0x%x, 0x%x", value1, value2);
			return false;
		}
	}
}

static void elapsed_across_the_wrap(const struct reference_clock *clock)
{
	if (!near_the_wrap(pmtmr_ioport))
		return;
	struct pm_timer timer = { pmtmr_ioport, 24, ACPI_PM_MASK };
	struct timed_read start = pm_timer_read_timed(&timer);
	uint32_t span = tsc_for_ticks(clock, TEN_MS_OF_TICKS);
	while (tsc_now() - start.tsc_after < span)
		(void)read_pmtmr();
	struct timed_read end = pm_timer_read_timed(&timer);
	report_info("the span runs from 0x%x to 0x%x", start.value, end.value);
	struct step_judgement judged = judge_span(ACPI_PM_MASK, clock, &start, &end);
	report_span(&judged, "elapsed ticks across the 24-bit wrap, masked as Linux does");
}

static void verified_reads(void)
{
	unsigned steps_back = 0;
	uint32_t last = acpi_pm_read_verified();
	for (int read = 0; read < VERIFIED_READS; read++) {
		uint32_t now = acpi_pm_read_verified();
		if (!forward_modulo_2_24(last, now))
			steps_back++;
		last = now;
	}
	report_info("acpi_pm_read_verified read again %u times in %d reads", verified_retries, VERIFIED_READS);
	report(steps_back == 0, "acpi_pm_read_verified never returns a value behind the one before");
#if !PM_TIMER_UNLATCHED
	report(verified_retries == 0, "acpi_pm_read_verified never needs to read again");
#endif
}

int main(void)
{
	pmtmr_ioport = pm_timer_require(true).port;
	struct pm_timer timer = { pmtmr_ioport, 24, ACPI_PM_MASK };
	struct reference_clock clock = reference_clock(&timer);
	elapsed_across_the_wrap(&clock);

	int passed = 0;
	while (passed < ACPI_PM_MONOTONICITY_CHECKS && one_consistency_check()) /* Linux stops at the first failure */
		passed++;
	report(passed == ACPI_PM_MONOTONICITY_CHECKS, "the boot-time consistency check of init_acpi_pm_clocksource passes");

	verified_reads();
	return report_summary();
}
