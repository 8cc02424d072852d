/* edk2_acpi_timer_delay.c - EDK2's AcpiTimerLib delay: MicroSecondDelay on the PM timer, OVMF's way.
 *
 * tianocore/edk2 OvmfPkg/Library/AcpiTimerLib/AcpiTimerLib.c (InternalAcpiDelay,
 * MicroSecondDelay), BaseAcpiTimerLib.c and BaseAcpiTimerLibBhyve.c
 * (InternalAcpiGetTimerTick); PcAtChipsetPkg/Library/AcpiTimerLib/AcpiTimerLib.c:
 *   - OVMF knows the timer's port from the chipset, not from the FADT: the
 *     PMBA register of the PIIX4 or ICH9 in PCI configuration space plus 8
 *     (AcpiTimerLibConstructor), or 0x408 on bhyve (BHYVE_ACPI_TIMER_IO_ADDR).
 *     The harness has no PCI bus and gives the port as TIMER_PORT, with
 *     HAS_PM_TIMER 0 where the platform has none.  InternalAcpiGetTimerTick
 *     reads all 32 bits; PcAtChipsetPkg's reads bits 0-23 (IoBitFieldRead32).
 *   - MicroSecondDelay(us) waits us x 3,579,545 / 1,000,000 ticks, rounded
 *     down: 1000 us is 3579 ticks.
 *   - InternalAcpiDelay cuts a delay into Delay >> 22 chunks of 2^22 ticks
 *     after a first chunk of Delay mod 2^22; for each, the target is the
 *     count now plus the chunk, and it spins until bit 23 of (target - now)
 *     is set, that is until the count has passed the target.  One bit of a
 *     32-bit difference serves a 24-bit and a 32-bit counter alike, across
 *     the wrap, as long as a chunk stays under 2^23 ticks.
 * What the guest checks, as asm/ovmf_pmtmr.asm does in NASM:
 *   - MicroSecondDelay(10000) started 4.6 ms below the 24-bit wrap waits its
 *     35795 ticks, and MicroSecondDelay(1000) its 3579.  Under the virtual
 *     clock the ticks from a read before to a read after are the delay's,
 *     give or take LATE; on a real clock the delay must wait at least its
 *     ticks, and its last step, across the target, must be as long as the time
 *     the TSC saw (a host's pause passes, a timer that jumps does not).
 * What breaks it: no timer at the port (OVMF would spin for ever on
 * all-ones reads: the guest says so in a failed check instead).  Neither the
 * width, the wrap, nor a stray read 256 ticks behind (PIIX4) moves the end;
 * on bhyve the delay is 720 ppm short in real time, which only another clock
 * would show.
 */
// harness: --timer-start 0xFFE000
// expect: no-pm-timer=fail
// expect: qemu-microvm=fail xen-pvh=fail firecracker=fail crosvm=fail acrn=fail
// expect: acrn-prelaunched=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define BIT22 (1u << 22)
#define BIT23 (1u << 23)
#define LATE 24 /* under the virtual clock: the delay's last read and the guest's measuring reads, past the target */

static struct pm_timer timer = { TIMER_PORT, 32, 0xFFFFFFFFu };
static struct timed_read delay_began, delay_ended, before_the_end;

static uint32_t internal_acpi_get_timer_tick(void)
{
	return inl(timer.port);
}

/* A tick read with its TSC bracket, so that the delay's first and last reads can be judged. */
static uint32_t timed_tick(struct timed_read *read)
{
	read->tsc_before = tsc_now();
	read->value = internal_acpi_get_timer_tick();
	read->tsc_after = tsc_now();
	return read->value;
}

static void internal_acpi_delay(uint32_t delay)
{
	uint32_t times = delay >> 22, ticks;
	bool first = true;
	delay &= BIT22 - 1;
	do {
		struct timed_read read;
		ticks = timed_tick(&read) + delay;
		if (first)
			delay_began = read;
		first = false;
		delay = BIT22;
		delay_ended = read;
		do {
			before_the_end = delay_ended;
		} while (((ticks - timed_tick(&delay_ended)) & BIT23) == 0);
	} while (times-- > 0);
}

static uint32_t micro_second_delay(uint32_t micro_seconds)
{
	uint32_t ticks = muldiv32(micro_seconds, PM_TMR_HZ, 1000000u);
	internal_acpi_delay(ticks);
	return ticks;
}

static void wait_and_check(uint32_t micro_seconds, const struct reference_clock *clock)
{
	struct timed_read before = steady_read_timed(timer.port);
	uint32_t ticks = micro_second_delay(micro_seconds);
	struct timed_read after = steady_read_timed(timer.port);
	/* OVMF's GetPerformanceCounterProperties calls the timer 24 bits: so are the ticks counted here. */
	uint32_t waited = (clock->exact ? after.value - before.value : delay_ended.value - delay_began.value)
			  & LOW_24_BITS;
	report_info("waited %u ticks for %u", waited, ticks);
	bool on_time;
	if (clock->exact) {
		on_time = waited - ticks <= LATE;
	} else {
		struct step_judgement last_step = judge_span(LOW_24_BITS, clock, &before_the_end, &delay_ended);
		on_time = waited - ticks < (1u << 23) && last_step.sound;
	}
	report(on_time, "MicroSecondDelay(%u) waits %u ticks", micro_seconds, ticks);
}

int main(void)
{
	report(HAS_PM_TIMER, "the platform has a PM timer");
	if (!HAS_PM_TIMER)
		return report_summary();
	struct reference_clock clock = reference_clock(&timer);
	if (!near_the_wrap(timer.port))
		return report_summary();
	wait_and_check(10000, &clock);
	wait_and_check(1000, &clock);
	return report_summary();
}
