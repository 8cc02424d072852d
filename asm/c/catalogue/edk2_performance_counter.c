/* edk2_performance_counter.c - EDK2's AcpiTimerLib performance counter against its own stated range.
 *
 * tianocore/edk2 OvmfPkg/Library/AcpiTimerLib/AcpiTimerLib.c
 * (GetPerformanceCounter, GetPerformanceCounterProperties, GetTimeInNanoSecond),
 * BaseAcpiTimerLib.c and BaseAcpiTimerLibBhyve.c (InternalAcpiGetTimerTick),
 * MdePkg/Include/Library/TimerLib.h (the contract):
 *   - GetPerformanceCounterProperties says the counter counts up from 0 to
 *     EndValue = ACPI_TIMER_COUNT_SIZE - 1 = 2^24 - 1 ("The ACPI Time is a
 *     24-bit counter") at 3,579,545 Hz, and rolls over there: callers that
 *     measure time across a roll-over (MdePkg's TimerLib contract) compute
 *     it modulo EndValue + 1.
 *   - GetPerformanceCounter returns InternalAcpiGetTimerTick, which reads all
 *     32 bits of the timer (IoRead32), bhyve's variant too.
 *   - (PcAtChipsetPkg's AcpiTimerLib returns the TSC from
 *     GetPerformanceCounter, with a frequency measured by the timer: it is
 *     not this guest's subject.)
 * What the guest checks, starting 8192 ticks below 2^24 so that a 32-bit
 * counter passes it:
 *   - every value GetPerformanceCounter returns lies in the range
 *     GetPerformanceCounterProperties states;
 *   - a 10 ms span, as a caller computes it from two counter values modulo
 *     EndValue + 1 and converts with GetTimeInNanoSecond, is as long as the
 *     TSC saw.
 * What breaks it: a 32-bit timer (bhyve, Xen, VirtualBox, Hyper-V, AMD FCH,
 * cloud-hypervisor, the default platform): the counter passes 2^24 - 1 and
 * goes on, outside the range OVMF states for it, though a span measured
 * modulo 2^24 stays right.  OVMF's bhyve build reads bhyve's 32-bit timer
 * and states 24 bits all the same.  No timer at all fails the first check.
 * The guest's own platform, where `run` and `suite` put it, is QEMU's, whose
 * 24-bit timer OVMF was written for.
 */
// harness: --platform qemu --timer-start 0xFFE000
// expect: acpi=fail bhyve=fail xen=fail xen-v0=fail virtualbox=fail hyperv=fail hyperv-gen1=fail
// expect: cloud-hypervisor=fail amd-fch=fail no-pm-timer=fail qemu-microvm=fail xen-pvh=fail
// expect: firecracker=fail crosvm=fail acrn=fail acrn-prelaunched=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define ACPI_TIMER_COUNT_SIZE (1u << 24)
#define READS 20000

static struct pm_timer timer = { TIMER_PORT, 32, 0xFFFFFFFFu };

static uint64_t get_performance_counter(void)
{
	return (uint64_t)inl(timer.port);
}

static uint64_t get_performance_counter_properties(uint64_t *start_value, uint64_t *end_value)
{
	*start_value = 0;
	*end_value = ACPI_TIMER_COUNT_SIZE - 1;
	return PM_TMR_HZ;
}

int main(void)
{
	report(HAS_PM_TIMER, "the platform has a PM timer");
	if (!HAS_PM_TIMER)
		return report_summary();
	uint64_t start_value, end_value;
	uint64_t frequency = get_performance_counter_properties(&start_value, &end_value);
	report_info("GetPerformanceCounterProperties: %llu to 0x%llx at %llu Hz", (unsigned long long)start_value,
		    (unsigned long long)end_value, (unsigned long long)frequency);
	struct reference_clock clock = reference_clock(&timer);
	if (!near_the_wrap(timer.port))
		return report_summary();

	/* The span's ends are the guest's own steady reads: what is checked is the modulo arithmetic. */
	struct timed_read first = steady_read_timed(timer.port);
	uint64_t highest = first.value;
	uint32_t span = tsc_for_ticks(&clock, TEN_MS_OF_TICKS);
	for (int read = 0; read < READS || tsc_now() - first.tsc_after < span; read++) {
		uint64_t value = get_performance_counter();
		if (value > highest)
			highest = value;
	}
	struct timed_read last = steady_read_timed(timer.port);
	report_info("the highest value read: 0x%llx", (unsigned long long)highest);
	report(highest <= end_value, "GetPerformanceCounter stays within the range GetPerformanceCounterProperties states");

	struct step_judgement judged = judge_span((uint32_t)end_value, &clock, &first, &last);
	report_span(&judged, "a span measured modulo EndValue + 1 is as long as the TSC saw");
	return report_summary();
}
