/* openbsd_acpitimer.c - OpenBSD's acpitimer: the timecounter, its ordered read and its delay.
 *
 * openbsd/src sys/dev/acpi/acpitimer.c (acpitimerattach, acpitimer_read,
 * acpitimer_delay), sys/dev/acpi/acpi.c (acpi_attach):
 *   - acpi_attach attaches the timer only when the FADT is not
 *     hardware-reduced and names it in PM_TMR_BLK or X_PM_TMR_BLK.
 *   - acpitimerattach maps X_PM_TMR_BLK from a revision-3 or later FADT whose
 *     X_ address is not 0, else PM_TMR_BLK.
 *   - The timecounter's mask is 24 bits, 32 when the FADT sets TMR_VAL_EXT:
 *     OpenBSD trusts the flag, as FreeBSD does.
 *   - acpitimer_read reads until three reads in a row are in order (u1 <= u2
 *     <= u3, compared as they are) and returns the middle one, on every
 *     chipset: OpenBSD has no fast read.
 *   - acpitimer_delay(usecs), which OpenBSD installs as delay() (delay_init),
 *     counts usecs x 3,579,545 / 1,000,000 ticks, adding each step between
 *     two reads modulo the mask, until the count is reached.
 * What the guest checks:
 *   - a 10 ms span across 2^24, read by acpitimer_read and masked as
 *     TMR_VAL_EXT says, is as long as the TSC saw;
 *   - acpitimer_delay(1000) ends 3579 ticks after it began, by the guest's
 *     own reads, and not much later;
 *   - over many reads acpitimer_read never steps back modulo the mask.
 * What breaks it: TMR_VAL_EXT on a 24-bit timer (the span loses 2^24 ticks,
 * and a delay across the wrap waits 2^32 - 2^24 ticks: 20 minutes); a port
 * nothing answers (acpitimer_delay never ends: the guest gives up after
 * DELAY_GIVE_UP times the delay, by the TSC); a wrong rate.  A
 * hardware-reduced FADT (cloud-hypervisor) gets no timer at all, though one
 * answers there.
 */
// harness: --timer-start 0xFFE000
// expect: bhyve=fail cloud-hypervisor=skip no-pm-timer=skip
// expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
// expect: acrn-prelaunched=skip bochs-uefi=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define FADT_REVISION_BYTE 8
#define HW_REDUCED_ACPI (1u << 20)
#define DELAY_US 1000
#if CLOCK_VIRTUAL
#define DELAY_GIVE_UP 10
#else
#define DELAY_GIVE_UP 1000 /* a busy host may stop the guest for milliseconds */
#endif
/* Under the virtual clock, the ticks past the count the guest may see: the delay's last acpitimer_read
 * (three reads) and the guest's own reads around it (five), each IO_NS long. */
#define LATE ((uint32_t)(8ull * IO_NS * PM_TMR_HZ / 1000000000u) + EXACT_SLACK_TICKS)
#define STEP_READS 5000

static struct pm_timer timer;
static const struct reference_clock *clock;

static uint32_t acpitimer_read(void)
{
	uint32_t u1, u2 = inl(timer.port), u3 = inl(timer.port);
	do {
		u1 = u2;
		u2 = u3;
		u3 = inl(timer.port);
	} while (u1 > u2 || u2 > u3);
	return u2;
}

/* acpitimer_delay, with a way out the original has not: false if it did not end in DELAY_GIVE_UP times
 * its length, by the TSC. */
static bool acpitimer_delay(uint32_t usecs)
{
	uint64_t count = 0;
	uint32_t cycles = muldiv32(usecs, PM_TMR_HZ, 1000000u), val1, val2 = acpitimer_read();
	uint32_t began = tsc_now(), give_up = tsc_for_ticks(clock, cycles) * DELAY_GIVE_UP;
	while (count < cycles) {
		val1 = val2;
		val2 = acpitimer_read();
		count += (val2 - val1) & timer.mask;
		if (tsc_now() - began > give_up)
			return false;
	}
	return true;
}

static void delay_of_a_millisecond(void)
{
	uint32_t cycles = muldiv32(DELAY_US, PM_TMR_HZ, 1000000u);
	struct timed_read before = steady_read_timed(timer.port);
	bool ended = acpitimer_delay(DELAY_US);
	struct timed_read after = steady_read_timed(timer.port);
	uint32_t waited = (after.value - before.value) & LOW_24_BITS;
	report_info("acpitimer_delay(%u) %s after %u ticks, by the guest's reads", DELAY_US,
		    ended ? "ended" : "was given up", waited);
	bool on_time = ended && waited >= cycles;
	if (clock->exact)
		on_time = on_time && waited - cycles <= LATE;
	report(on_time, "acpitimer_delay(%u) waits %u ticks", DELAY_US, cycles);
}

static void every_step_forward(void)
{
	unsigned backward = 0;
	uint32_t last = acpitimer_read();
	for (int read = 0; read < STEP_READS; read++) {
		uint32_t now = acpitimer_read();
		if (((now - last) & timer.mask) > timer.mask >> 1)
			backward++;
		last = now;
	}
	report(backward == 0, "acpitimer_read never steps back modulo the timecounter's mask");
}

int main(void)
{
	const uint8_t *fadt = acpi_find_fadt();
	if (!fadt) {
		report(false, "the FADT is found");
		finish();
	}
	timer = pm_timer_from_fadt(fadt, false);
	if (fadt[FADT_REVISION_BYTE] >= 3 && acpi_u32(fadt, FADT_X_PM_TMR_BLK + 4) != 0)
		timer.port = (uint16_t)acpi_u32(fadt, FADT_X_PM_TMR_BLK + 4);
	if (acpi_u32(fadt, FADT_FLAGS) & HW_REDUCED_ACPI) {
		report_skip("the FADT is hardware-reduced: acpi_attach attaches no acpitimer");
		finish();
	}
	if (timer.port == 0) {
		report_skip("the FADT names no timer: acpi_attach attaches no acpitimer");
		finish();
	}
	struct reference_clock reference = reference_clock(&timer);
	clock = &reference;
	span_across_the_wrap(acpitimer_read, timer.port, timer.mask, clock,
			     "elapsed ticks across 2^24, read by acpitimer_read and masked as TMR_VAL_EXT says");
	delay_of_a_millisecond();
	every_step_forward();
	return report_summary();
}
