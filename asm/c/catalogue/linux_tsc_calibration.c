/* linux_tsc_calibration.c - Linux's TSC calibration with the PM timer as its reference.
 *
 * torvalds/linux arch/x86/kernel/tsc.c (pit_hpet_ptimer_calibrate_cpu,
 * tsc_read_refs, calc_pmtimer_ref), include/linux/acpi_pmtmr.h
 * (acpi_pm_read_early):
 *   - Three times at most: read the reference (tsc_read_refs), let the PIT
 *     count CAL_MS (10 ms) while the TSC is sampled (pit_calibrate_tsc), read
 *     the reference again; the TSC's kHz by the PIT and by the reference must
 *     agree within 10% (90 <= pit x 100 / ref <= 110), and then Linux takes
 *     the reference's, the more precise.
 *   - tsc_read_refs reads the reference between two TSC reads and keeps it
 *     when they are less than the threshold apart (tsc_khz / 32, or
 *     TSC_DEFAULT_THRESHOLD 0x20000 cycles while tsc_khz is not known yet);
 *     else it tries again, MAX_RETRIES (5) times in all, then gives up
 *     (ULLONG_MAX): an SMI landed in the read.
 *   - acpi_pm_read_early reads through acpi_pm_read_verified, masked to 24
 *     bits, and returns 0 when there is no port.  Equal references (ref1 ==
 *     ref2: no timer, or one that stands still) mean no reference: the PIT
 *     alone is used.
 *   - calc_pmtimer_ref adds 2^24 (ACPI_PM_OVRRUN) when the second reference
 *     is below the first, converts the ticks to ns and divides the TSC's
 *     cycles (x 10^6) by them: kHz.  One wrap is handled, which 10 ms cannot
 *     exceed.  (Linux divides 64-bit numbers with do_div; the guest, having
 *     no 64-bit division, uses muldiv32, exact for these magnitudes.)
 * The harness has no PIT.  Under the virtual clock the guest waits 10 ms by
 * the TSC, whose rate is known (1 GHz), reading the timer meanwhile, and the
 * known rate stands in for the PIT's measure: the check is Linux's 10%.  On
 * a real clock there is nothing to stand in for it, and that check is
 * skipped.  The guest checks:
 *   - the two references differ: Linux has a PM timer reference;
 *   - in one calibration of three at least, tsc_read_refs gets both within
 *     its threshold (a pause may spoil one; Linux then tries the next).  On
 *     a real machine a port read's cost is the host's, and a KVM exit on a
 *     busy nested host can pass the threshold three times in a row: there
 *     the guest tries up to 30 calibrations;
 *   - the TSC's kHz by the timer agrees with the PIT's (the known rate), as
 *     Linux requires.
 * What breaks it: a port nothing answers (equal references: Linux falls back
 * to the PIT alone).  The 10% window lets bhyve's 720 ppm through, and every
 * other platform's timer too.
 */
// harness: --timer-start 0xFFE000
// expect: no-pm-timer=skip qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip
// expect: acrn=skip acrn-prelaunched=skip intel-pch-tim-dis=fail
#include "catalogue.h"

#define ACPI_PM_MASK 0x00FFFFFFu
#define ACPI_PM_OVRRUN (1u << 24)
#define MAX_RETRIES 5
#define TSC_DEFAULT_THRESHOLD 0x20000u
#define CAL_MS 10
#if CLOCK_VIRTUAL
#define CALIBRATIONS 3
#else
#define CALIBRATIONS 30 /* a busy host, or a slow KVM exit, may spoil Linux's three: the guest tries on */
#endif
#define NO_REFERENCE UINT32_MAX

static uint16_t pmtmr_ioport;

static uint32_t read_pmtmr(void)
{
	return inl(pmtmr_ioport) & ACPI_PM_MASK;
}

static uint32_t acpi_pm_read_early(void)
{
	uint32_t v1, v2, v3;
	do {
		v1 = read_pmtmr();
		v2 = read_pmtmr();
		v3 = read_pmtmr();
	} while ((v1 > v2 && v1 < v3) || (v2 > v3 && v2 < v1) || (v3 > v1 && v3 < v2));
	return v2 & ACPI_PM_MASK;
}

/* The TSC after a reference read that took less than the threshold; NO_REFERENCE after MAX_RETRIES tries. */
static uint32_t tsc_read_refs(uint32_t *reference)
{
	for (int i = 0; i < MAX_RETRIES; i++) {
		uint32_t t1 = tsc_now();
		*reference = acpi_pm_read_early();
		uint32_t t2 = tsc_now();
		if (t2 - t1 < TSC_DEFAULT_THRESHOLD)
			return t2;
	}
	return NO_REFERENCE;
}

/* The TSC's kHz from cycles over the ticks from pm1 to pm2. */
static uint32_t calc_pmtimer_ref(uint32_t delta_tsc, uint32_t pm1, uint32_t pm2)
{
	if (pm2 < pm1)
		pm2 += ACPI_PM_OVRRUN;
	uint32_t ns = muldiv32(pm2 - pm1, 1000000000u, PM_TMR_HZ);
	return muldiv32(delta_tsc, 1000000u, ns);
}

/* Where Linux lets the PIT count CAL_MS: the TSC, reading the timer as time passes. */
static void wait_cal_ms(void)
{
	uint32_t began = tsc_now(), length = VIRTUAL_TSC_HZ / 1000 * CAL_MS;
	while (tsc_now() - began < length)
		(void)read_pmtmr();
}

int main(void)
{
	pmtmr_ioport = pm_timer_require(true).port;
#if CLOCK_VIRTUAL
	uint32_t pit_khz = VIRTUAL_TSC_HZ / 1000;
#endif
	int refs_read = 0, references_differ = 0;
	bool matched = false;
	for (int i = 0; i < CALIBRATIONS && !matched; i++) {
		uint32_t ref1, ref2;
		uint32_t tsc1 = tsc_read_refs(&ref1);
		wait_cal_ms();
		uint32_t tsc2 = tsc_read_refs(&ref2);
		report_info("references 0x%x and 0x%x, %u TSC cycles apart", ref1, ref2, tsc2 - tsc1);
		if (ref1 == ref2)
			continue;
		references_differ++;
		if (tsc1 == NO_REFERENCE || tsc2 == NO_REFERENCE)
			continue;
		refs_read++;
		uint32_t ref_khz = calc_pmtimer_ref(tsc2 - tsc1, ref1, ref2);
#if CLOCK_VIRTUAL
		uint32_t deviation = muldiv32(pit_khz, 100, ref_khz);
		report_info("the TSC runs at %u kHz by the PM timer, %u kHz by the PIT: %u%%", ref_khz, pit_khz,
			    deviation);
		matched = deviation >= 90 && deviation <= 110;
#else
		report_info("the TSC runs at %u kHz by the PM timer", ref_khz);
		matched = true;
#endif
	}
	/* Linux goes on to the next calibration after a bad one: one good one of three is all it needs. */
	report(references_differ > 0, "the two references differ: Linux has a PM timer reference");
	if (!references_differ)
		return report_summary();
	report(refs_read > 0, "tsc_read_refs reads the timer within its threshold of TSC cycles, in a calibration");
#if CLOCK_VIRTUAL
	report(matched, "the TSC's kHz by the PM timer matches the PIT's within 10%%");
#else
	report_skip("no PIT here, nor a TSC of known rate to stand in for it: the 10%% match is not checked");
#endif
	return report_summary();
}
