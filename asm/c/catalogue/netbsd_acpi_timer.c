/* netbsd_acpi_timer.c - NetBSD's ACPI timecounter: acpitimer_test picks ACPI-Fast or ACPI-Safe.
 *
 * NetBSD/src sys/dev/acpi/acpi_timer.c (acpitimer_init, acpitimer_test,
 * acpitimer_delta, acpitimer_read_safe, acpitimer_read_fast); ACPICA's
 * hwtimer.c (AcpiGetTimer, AcpiGetTimerResolution):
 *   - acpitimer_supported: no timer when PM_TMR_LEN is 0.  AcpiGetTimer reads
 *     X_PM_TMR_BLK, which ACPICA's FADT conversion fills from PM_TMR_BLK when
 *     the firmware left it 0.
 *   - AcpiGetTimerResolution is 32 bits when the FADT sets TMR_VAL_EXT, else
 *     24, and sets the timecounter's mask: NetBSD trusts the flag.
 *   - acpitimer_init runs acpitimer_test ten times and takes ACPI-Fast (one
 *     read) only when all ten pass, else stays on ACPI-Safe.  One test: 2000
 *     reads, each step acpitimer_delta (end - start, or across the wrap
 *     ((mask - start) + end + 1) & mask); it fails when the largest and the
 *     smallest step differ by more than 2, or the largest is 0.  Unlike
 *     FreeBSD's it is the same on bare metal and in a virtual machine, and a
 *     step back, which the mask turns into a step of nearly 2^24, is caught
 *     by the spread.  (The smallest step is only updated when a step is not
 *     a new largest; the guest keeps that.)
 *   - acpitimer_read_safe reads until three reads in a row are in order
 *     (t1 <= t2 <= t3, compared as they are) and returns the middle one.
 * What the guest checks:
 *   - a 10 ms span across 2^24, read as acpitimer_test chose and masked by the
 *     resolution, is as long as the TSC saw;
 *   - over many reads every step is forward modulo the mask.
 * What breaks it: TMR_VAL_EXT on a 24-bit timer; a wrong rate; a timer that
 * stands still.  PIIX4's stray reads do not: the spread sends NetBSD to
 * ACPI-Safe, which never returns one.  A timer whose count moves in coarse
 * steps (Bochs: 1 us, 3-4 ticks) fails the test's spread and is read safely,
 * which costs only time.
 */
// harness: --timer-start 0xFE0000
// expect: bhyve=fail cloud-hypervisor=skip no-pm-timer=skip
// expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
// expect: acrn-prelaunched=skip bochs-uefi=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define TIMER_TESTS 10
#define TEST_READS 2000 /* acpitimer_test's N */
#define STEP_READS 5000

static struct pm_timer timer;
static bool fast;

static uint32_t acpitimer_delta(uint32_t end, uint32_t start)
{
	if (end >= start)
		return end - start;
	return ((timer.mask - start) + end + 1) & timer.mask;
}

static int acpitimer_test(void)
{
	int minl = 10000000, maxl = 0;
	uint32_t last = inl(timer.port);
	for (int n = 0; n < TEST_READS; n++) {
		uint32_t this = inl(timer.port);
		uint32_t delta = acpitimer_delta(this, last);
		if (delta > (uint32_t)maxl)
			maxl = (int)delta;
		else if (delta < (uint32_t)minl)
			minl = (int)delta;
		last = this;
	}
	if (maxl - minl > 2)
		return 0;
	if (minl < 0 || maxl == 0)
		return 0;
	return 1;
}

static uint32_t acpitimer_read_safe(void)
{
	uint32_t t1, t2 = inl(timer.port), t3 = inl(timer.port);
	do {
		t1 = t2;
		t2 = t3;
		t3 = inl(timer.port);
	} while (t1 > t2 || t2 > t3);
	return t2;
}

static uint32_t timecount(void)
{
	return fast ? inl(timer.port) : acpitimer_read_safe();
}

static void every_step_forward(void)
{
	unsigned backward = 0;
	uint32_t last = timecount();
	for (int read = 0; read < STEP_READS; read++) {
		uint32_t now = timecount();
		if (acpitimer_delta(now, last) > timer.mask >> 1)
			backward++;
		last = now;
	}
	report(backward == 0, "every step is forward modulo the timecounter's mask");
}

int main(void)
{
	const uint8_t *fadt = acpi_find_fadt();
	if (fadt && fadt[FADT_PM_TMR_LEN] == 0) {
		report_skip("PM_TMR_LEN is 0: acpitimer_supported says no");
		finish();
	}
	timer = pm_timer_require(true);
	struct reference_clock clock = reference_clock(&timer);
	int passed = 0;
	for (int test = 0; test < TIMER_TESTS; test++)
		passed += acpitimer_test();
	fast = passed >= TIMER_TESTS;
	report_info("acpitimer_test passed %d of %d times: ACPI-%s, %d-bit", passed, TIMER_TESTS, fast ? "Fast" : "Safe",
		    timer.width);
	span_across_the_wrap(timecount, timer.port, timer.mask, &clock,
			     "elapsed ticks across 2^24, masked by AcpiGetTimerResolution");
	every_step_forward();
	return report_summary();
}
