/* ipxe_acpi_timer.c - iPXE's ACPI timer: udelay and currticks on the PM timer's 24 bits.
 *
 * ipxe/ipxe src/arch/x86/interface/pcbios/acpi_timer.c (acpi_timer_probe,
 * acpi_udelay, acpi_currticks), src/core/acpi.c (acpi_find_via_rsdt),
 * src/include/ipxe/timer.h (TICKS_PER_SEC):
 *   - acpi_timer_probe finds the FADT through the RSDT alone, under BIOS and
 *     EFI alike, and takes PM_TMR_BLK, the ACPI 1.0 field; a zero port and
 *     iPXE falls back to another timer (skipped here).  With no RSDT there is
 *     no FADT: a FAIL here, as every guest of this project reports the FADT
 *     it cannot find.
 *   - Every read is masked to 24 bits ("pessimistically assuming that the
 *     timer has only 24 bits").
 *   - acpi_udelay(usecs) waits until (now - start) & mask reaches usecs x
 *     3,579,545 / 1,000,000, computed in unsigned long: 32 bits in i386
 *     iPXE, where the product overflows above 1199 us.  mdelay calls
 *     udelay(1000) once per millisecond (src/core/timer.c), so the overflow
 *     bites only a caller that asks for more at once; the guest, a 32-bit
 *     program, shows it as an expected failure.
 *   - acpi_currticks returns offset + now / (3,579,545 / TICKS_PER_SEC): with
 *     TICKS_PER_SEC 1024, one iPXE tick is 3495 timer ticks.  When a read is
 *     below the one before, it takes it for a wrap and adds 2^24 / 3495 =
 *     4800 ticks (4.69 s) to the offset.
 * What the guest checks:
 *   - udelay(1000) waits 3579 ticks, by the guest's own reads, and not much
 *     more; udelay(2000) would wait 7159 (an expected failure in 32-bit
 *     iPXE, whose arithmetic the guest shares);
 *   - over about 20 ms of currticks calls across the 24-bit wrap, currticks
 *     advances as the timer does, one tick per 3495.
 * What breaks it: no RSDT (cloud-hypervisor, Firecracker, crosvm, QEMU
 * microvm, ACRN's pre-launched VMs); a port nothing answers (udelay never
 * ends; the guest gives up after DELAY_GIVE_UP times the delay, by the TSC);
 * a chipset whose reads are not latched (PIIX4): a read 256 ticks behind is
 * taken for a wrap, so currticks jumps 4.69 s ahead, and a udelay whose
 * start it follows sees nearly 2^24 ticks elapsed and ends at once.
 */
// harness: --timer-start 0xFFE000
// expect: cloud-hypervisor=fail piix4=fail no-pm-timer=skip
// expect: qemu-microvm=fail xen-pvh=fail hyperv=skip firecracker=fail crosvm=fail acrn=skip
// expect: acrn-prelaunched=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define ACPI_TIMER_HZ 3579545ul
#define ACPI_TIMER_MASK 0x00FFFFFFul
#define TICKS_PER_SEC 1024ul
#define TIMER_TICKS_PER_TICK (ACPI_TIMER_HZ / TICKS_PER_SEC) /* 3495 */
#if CLOCK_VIRTUAL
#define DELAY_GIVE_UP 10
#else
#define DELAY_GIVE_UP 1000 /* a busy host may stop the guest for milliseconds */
#endif
#define CURRTICKS_MS 20
/* Under the virtual clock, the ticks past the threshold the guest may see: the delay's last read and the
 * guest's own reads around it (five), each IO_NS long. */
#define LATE ((uint32_t)(6ull * IO_NS * PM_TMR_HZ / 1000000000u) + EXACT_SLACK_TICKS)

static unsigned int pm_tmr;
static const struct reference_clock *clock;

static unsigned long acpi_currticks(void)
{
	static unsigned long offset;
	static uint32_t prev;
	uint32_t now = inl(pm_tmr) & ACPI_TIMER_MASK;
	if (now < prev)
		offset += (ACPI_TIMER_MASK + 1) / TIMER_TICKS_PER_TICK;
	prev = now;
	return offset + now / TIMER_TICKS_PER_TICK;
}

/* The ticks acpi_udelay waits for, computed in unsigned long as iPXE does. */
static uint32_t udelay_threshold(unsigned long usecs)
{
	return (uint32_t)((usecs * ACPI_TIMER_HZ) / 1000000ul);
}

/* acpi_udelay, with a way out the original has not: false if it did not end in DELAY_GIVE_UP times its
 * length, by the TSC. */
static bool acpi_udelay(unsigned long usecs)
{
	uint32_t start = inl(pm_tmr), elapsed;
	uint32_t threshold = udelay_threshold(usecs);
	uint32_t began = tsc_now(), give_up = tsc_for_ticks(clock, threshold) * DELAY_GIVE_UP;
	do {
		elapsed = (inl(pm_tmr) - start) & ACPI_TIMER_MASK;
		if (tsc_now() - began > give_up)
			return false;
	} while (elapsed < threshold);
	return true;
}

/* The ticks udelay(usecs) waited, by the guest's own reads; 0 if it was given up. */
static uint32_t measured_udelay(unsigned long usecs)
{
	struct timed_read before = steady_read_timed((uint16_t)pm_tmr);
	bool ended = acpi_udelay(usecs);
	struct timed_read after = steady_read_timed((uint16_t)pm_tmr);
	uint32_t waited = (after.value - before.value) & LOW_24_BITS;
	report_info("udelay(%lu) %s after %u ticks, by the guest's reads", usecs, ended ? "ended" : "was given up",
		    waited);
	return ended ? waited : 0;
}

static void delays(void)
{
	uint32_t ticks = muldiv32(1000, PM_TMR_HZ, 1000000u);
	uint32_t waited = measured_udelay(1000);
	bool on_time = waited >= ticks && (!clock->exact || waited - ticks <= LATE);
	report(on_time, "udelay(1000) waits %u ticks", ticks);

	/* iPXE's arithmetic, not the timer: a delay measured on a real clock may be lengthened by a host's pause. */
	ticks = muldiv32(2000, PM_TMR_HZ, 1000000u);
	report_info("udelay(2000) waits for %u ticks in this build", udelay_threshold(2000));
	report_xfail(sizeof(unsigned long) == 4, udelay_threshold(2000) == ticks,
		     "udelay(2000) waits %u ticks (in i386 iPXE, 2000 x 3579545 overflows 32 bits)", ticks);
}

/* currticks over CURRTICKS_MS, across the wrap, against the time the TSC saw pass from its first call to its
 * last: a host's pause between two calls moves both clocks alike. */
static void currticks_across_the_wrap(void)
{
	if (!near_the_wrap((uint16_t)pm_tmr))
		return;
	uint32_t first_before = tsc_now();
	unsigned long first = acpi_currticks(), last = first;
	uint32_t first_after = tsc_now(), last_before = first_after, last_after = first_after;
	uint32_t span = tsc_for_ticks(clock, CURRTICKS_MS * (PM_TMR_HZ / 1000));
	while (last_after - first_after < span) {
		last_before = tsc_now();
		last = acpi_currticks();
		last_after = tsc_now();
	}
	uint32_t least = tsc_span_to_ticks(&clock->rate, last_before - first_after);
	uint32_t most = tsc_span_to_ticks(&clock->rate, last_after - first_before);
	if (!clock->exact) { /* the TSC's rate is known to 1/128 (lib/tsc.c) */
		least -= least >> 6;
		most += most >> 6;
	}
	uint32_t advanced = (uint32_t)(last - first);
	uint32_t fewest = least / TIMER_TICKS_PER_TICK, most_due = most / TIMER_TICKS_PER_TICK + 1;
	report_info("currticks advanced %u ticks; the TSC allows %u to %u", advanced, fewest, most_due);
	if (most == 0 || advanced == 0) {
		report(false, "the timer moves");
		return;
	}
	report(advanced + 1 >= fewest && advanced <= most_due, "currticks advances one tick per %lu of the timer",
	       TIMER_TICKS_PER_TICK);
}

int main(void)
{
	const uint8_t *fadt = acpi_find_rsdt_fadt();
	if (!fadt) {
		report(false, "the FADT is found");
		finish();
	}
	pm_tmr = acpi_u32(fadt, FADT_PM_TMR_BLK);
	if (!pm_tmr) {
		report_skip("ACPI has no timer: iPXE takes another");
		finish();
	}
	struct pm_timer timer = { (uint16_t)pm_tmr, 24, LOW_24_BITS };
	struct reference_clock reference = reference_clock(&timer);
	clock = &reference;
	(void)acpi_currticks(); /* as iPXE's first call: prev from 0 */
	currticks_across_the_wrap();
	delays();
	return report_summary();
}
