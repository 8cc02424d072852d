/* freebsd_acpi_timer.c - FreeBSD's ACPI timecounter: acpi_timer_test picks the fast or the safe read.
 *
 * freebsd/freebsd-src sys/dev/acpica/acpi_timer.c (stable/14), sys/dev/acpica/acpivar.h:
 *   - acpi_timer_identify takes no timer when PM_TMR_LEN is 0, and reads the
 *     port from X_PM_TMR_BLK (ACPICA's FADT conversion fills it from
 *     PM_TMR_BLK when the firmware left it 0).
 *   - acpi_timer_probe sets the timecounter's mask to 0xFFFFFFFF when the FADT
 *     sets TMR_VAL_EXT, else 0x00FFFFFF: FreeBSD trusts the flag, so a timer
 *     that claims 32 bits and wraps at 24 loses 2^24 ticks at each wrap.
 *   - It runs acpi_timer_test ten times and takes "ACPI-fast" (one read per
 *     timecount) only when all ten pass, else "ACPI-safe".  One test: 2000
 *     reads, each step acpi_TimerDelta (end - start, with 2^24 added when the
 *     count went down and TMR_VAL_EXT is clear) kept as a signed int; it fails
 *     when the smallest step is negative or the largest or second largest is
 *     0, and on bare metal (vm_guest == VM_GUEST_NO) also when the largest
 *     and smallest steps differ by more than 8 or the second largest and the
 *     smallest by more than 3.  FreeBSD knows a guest by CPUID's hypervisor
 *     bit (sys/x86/x86/identcpu.c, identify_hypervisor); so does this guest.
 *   - acpi_timer_get_timecount_safe reads until three reads in a row are in
 *     order (u1 <= u2 <= u3, compared as they are, not modulo the mask) and
 *     returns the middle one: a stray read is never returned, and near the
 *     wrap it reads on until the three are past it.
 *   - FreeBSD's main branch has since dropped the test and always takes
 *     ACPI-fast; this guest follows stable/14, which still decides.
 * What the guest checks, as asm/freebsd_pmtmr.asm does in NASM but through
 * the read acpi_timer_test chose:
 *   - a 10 ms span across 2^24, masked as TMR_VAL_EXT says, is as long as the
 *     TSC saw;
 *   - over many reads, every step is forward modulo the timecounter's mask.
 * What breaks it: TMR_VAL_EXT on a 24-bit timer (the span loses 2^24 ticks);
 * a wrong rate (the span, under the virtual clock); a timer that stands still;
 * a chipset whose reads are not latched (PIIX4), in a virtual machine.  The
 * harness's CPU sets CPUID's hypervisor bit, so FreeBSD applies the rules for
 * a guest, which look only at the smallest step and at zero steps: on a
 * 24-bit timer acpi_TimerDelta turns a read 256 ticks behind into a forward
 * step of nearly 2^24, the test passes, FreeBSD takes ACPI-fast and returns
 * the stray reads.  On bare metal the spread of the steps (largest less
 * smallest above 8) would have sent it to ACPI-safe.
 */
// harness: --timer-start 0xFE0000
// expect: bhyve=fail cloud-hypervisor=skip piix4=fail no-pm-timer=skip
// expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
// expect: acrn-prelaunched=skip bochs-uefi=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define TIMER_TESTS 10
#define TEST_READS 2000 /* acpi_timer_test's N */
#define STEP_READS 5000
#define CPUID_HYPERVISOR (1u << 31) /* CPUID.1:ECX */

static struct pm_timer timer;
static bool ext; /* TMR_VAL_EXT */
static bool fast;

static int32_t acpi_timer_delta(uint32_t end, uint32_t start)
{
	if (end < start && !ext)
		end |= 0x01000000u;
	return (int32_t)(end - start);
}

static bool vm_guest(void)
{
	uint32_t eax = 1, ebx, ecx, edx;
	__asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx));
	return ecx & CPUID_HYPERVISOR;
}

static int acpi_timer_test(bool bare_metal)
{
	int32_t min = INT32_MAX, max = 0, max2 = 0;
	uint32_t last = inl(timer.port);
	for (int n = 0; n < TEST_READS; n++) {
		uint32_t this = inl(timer.port);
		int32_t delta = acpi_timer_delta(this, last);
		if (delta > max) {
			max2 = max;
			max = delta;
		} else if (delta > max2) {
			max2 = delta;
		}
		if (delta < min)
			min = delta;
		last = this;
	}
	if ((max - min > 8 || max2 - min > 3) && bare_metal)
		return 0;
	if (min < 0 || max == 0 || max2 == 0)
		return 0;
	return 1;
}

static uint32_t acpi_timer_get_timecount_safe(void)
{
	uint32_t u1, u2 = inl(timer.port), u3 = inl(timer.port);
	do {
		u1 = u2;
		u2 = u3;
		u3 = inl(timer.port);
	} while (u1 > u2 || u2 > u3);
	return u2;
}

static uint32_t timecount(void)
{
	return fast ? inl(timer.port) : acpi_timer_get_timecount_safe();
}

static void choose_the_read(void)
{
	bool bare_metal = !vm_guest();
	int passed = 0;
	for (int test = 0; test < TIMER_TESTS; test++)
		passed += acpi_timer_test(bare_metal);
	fast = passed == TIMER_TESTS;
	report_info("acpi_timer_test passed %d of %d times (%s rules): ACPI-%s", passed, TIMER_TESTS,
		    bare_metal ? "bare-metal" : "virtual-machine", fast ? "fast" : "safe");
}

static void every_step_forward(void)
{
	unsigned backward = 0;
	uint32_t last = timecount();
	for (int read = 0; read < STEP_READS; read++) {
		uint32_t now = timecount();
		if (((now - last) & timer.mask) > timer.mask >> 1)
			backward++;
		last = now;
	}
	report(backward == 0, "every step is forward modulo the timecounter's mask");
}

int main(void)
{
	const uint8_t *fadt = acpi_find_fadt();
	if (fadt && fadt[FADT_PM_TMR_LEN] == 0) {
		report_skip("PM_TMR_LEN is 0: acpi_timer_identify takes no timer");
		finish();
	}
	timer = pm_timer_require(true);
	ext = timer.width == 32;
	struct reference_clock clock = reference_clock(&timer);
	choose_the_read();
	span_across_the_wrap(timecount, timer.port, timer.mask, &clock,
			     "elapsed ticks across 2^24, masked as TMR_VAL_EXT says");
	every_step_forward();
	return report_summary();
}
