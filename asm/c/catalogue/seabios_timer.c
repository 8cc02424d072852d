/* seabios_timer.c - SeaBIOS's timer: the PM timer's 24 bits extended to 32, and deadlines on them.
 *
 * coreboot/seabios src/hw/timer.c, src/fw/biostables.c:
 *   - find_acpi_features takes the port from PM_TMR_BLK, the ACPI 1.0 field,
 *     of the FADT that find_fadt finds through the RSDT alone: no XSDT, no
 *     X_PM_TMR_BLK.  A zero port leaves SeaBIOS on the TSC (skipped here);
 *     with no RSDT SeaBIOS finds no FADT at all (a FAIL here, as in
 *     asm/seabios_pmtmr.asm: a found FADT is no test, its absence is).
 *   - pmtimer_setup sets TimerKHz to DIV_ROUND_UP(3579545, 1000) = 3580: a
 *     millisecond is 3580 ticks.  With the PM timer SeaBIOS does not calibrate
 *     the TSC (timer_setup: "pmtimer already configured").
 *   - timer_read reads 32 bits and extends the low 24 to 32 with
 *     timer_adjust_bits(value, 0xFFFFFF): the last value's upper bits over
 *     the new low ones, plus 2^24 when that went down.  So the extension
 *     holds only when SeaBIOS reads at least once per wrap (4.69 s).
 *   - timer_check(end) is (s32)(timer_read() - end) > 0, timer_calc(ms) is
 *     timer_read() + TimerKHz * ms, and mdelay spins on them.
 * What the guest checks, as asm/seabios_pmtmr.asm does in NASM:
 *   - a 10 ms span across the 24-bit wrap, on extended values, is as long as
 *     the TSC saw;
 *   - a 1 ms deadline ends within a few ticks of its end, and the extended
 *     value never goes backwards on the way.  Without the virtual clock a
 *     busy host can stop the guest just as the deadline passes: a late
 *     deadline is waited for again, up to DEADLINE_ATTEMPTS times, and the
 *     last one is judged.  A timer that stands still over the span ends the
 *     guest there, where SeaBIOS would wait for its deadline for ever.
 * What breaks it: no RSDT (cloud-hypervisor, Firecracker, crosvm, QEMU
 * microvm, ACRN's pre-launched VMs); a timer named only in X_PM_TMR_BLK
 * (Hyper-V generation 2: skipped); a port nothing answers (Xen PVH's RSDT
 * copy, an Intel PCH with ACPI_TIM_DIS); reads that step back (PIIX4: the
 * extension adds 2^24 for a read 256 ticks behind); a wrong rate.
 */
// harness: --timer-start 0xFFE000
// expect: bhyve=fail cloud-hypervisor=fail piix4=fail no-pm-timer=skip
// expect: qemu-microvm=fail xen-pvh=fail hyperv=skip firecracker=fail crosvm=fail acrn=skip
// expect: acrn-prelaunched=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define TIMER_KHZ 3580 /* DIV_ROUND_UP(PMTIMER_HZ, 1000) */
#if CLOCK_VIRTUAL
#define NEAR 16
#define DEADLINE_ATTEMPTS 1
#else
#define NEAR 358 /* 100 us: a real machine takes time to notice */
#define DEADLINE_ATTEMPTS 20
#endif

static uint16_t timer_port;
static uint32_t timer_last;

static uint32_t timer_adjust_bits(uint32_t value, uint32_t validbits)
{
	value = (timer_last & ~validbits) | (value & validbits);
	if (value < timer_last)
		value += validbits + 1;
	timer_last = value;
	return value;
}

static uint32_t timer_read(void)
{
	return timer_adjust_bits(inl(timer_port), 0x00FFFFFFu);
}

static bool timer_check(uint32_t end)
{
	return (int32_t)(timer_read() - end) > 0;
}

/* True when the span moved at all: a timer that stands still ends the guest, as SeaBIOS would hang. */
static bool elapsed_across_the_wrap(const struct reference_clock *clock)
{
	if (!near_the_wrap(timer_port))
		return false;
	struct timed_read start = timed_by(timer_read);
	uint32_t span = tsc_for_ticks(clock, TEN_MS_OF_TICKS);
	while (tsc_now() - start.tsc_after < span)
		(void)timer_read();
	struct timed_read end = timed_by(timer_read);
	report_info("extended values from 0x%x to 0x%x", start.value, end.value);
	struct step_judgement judged = judge_span(0xFFFFFFFFu, clock, &start, &end);
	report_span(&judged, "elapsed ticks across the wrap, extended as SeaBIOS does");
	if (judged.step == 0)
		report_info("the timer stands still: SeaBIOS would wait for its deadline for ever (not waited for here)");
	return judged.step != 0;
}

static void wait_for_a_deadline(void)
{
	unsigned backwards = 0;
	int32_t late = 0;
	for (int attempt = 1; attempt <= DEADLINE_ATTEMPTS; attempt++) {
		uint32_t end = timer_read() + TIMER_KHZ; /* timer_calc(1) */
		uint32_t last = timer_last;
		while (!timer_check(end)) {
			if (timer_last < last)
				backwards++;
			last = timer_last;
		}
		late = (int32_t)(timer_last - end);
		report_info("the deadline passed %d ticks after its end", late);
		if (late < NEAR)
			break;
		if (attempt < DEADLINE_ATTEMPTS)
			report_info("late (was the guest stopped?): waiting for another deadline");
	}
	report(late < NEAR, "a 1 ms deadline ends within a few ticks of its end");
	report(backwards == 0, "the extended value never goes backwards");
}

int main(void)
{
	const uint8_t *fadt = acpi_find_rsdt_fadt();
	if (!fadt) {
		report(false, "the FADT is found");
		finish();
	}
	struct pm_timer timer = pm_timer_from_fadt(fadt, false);
	if (timer.port == 0) {
		report_skip("the FADT names no timer port: nothing to read");
		finish();
	}
	timer_port = timer.port;
	timer.width = 24;
	timer.mask = 0x00FFFFFFu;
	struct reference_clock clock = reference_clock(&timer);
	(void)timer_read(); /* start the extension */
	if (elapsed_across_the_wrap(&clock))
		wait_for_a_deadline();
	return report_summary();
}
