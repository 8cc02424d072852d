/* hello_timer.c - the first C guest: find the PM timer through ACPI, read it twice, judge the step.
 *
 * The timer's port and width come from the FADT (lib/acpi.c), as an operating
 * system finds them.  Two reads are bracketed by the TSC (lib/tsc.c), which
 * is calibrated against the timer first: the step between them must be as
 * long as the time the TSC saw pass, so a host that pauses the guest between
 * the reads does not fail it, and a timer that stands still or jumps does.
 */
// expect: no-pm-timer=skip qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip
// expect: acrn=skip acrn-prelaunched=skip intel-pch-tim-dis=fail
#include "harness.h"

int main(void)
{
	struct pm_timer timer = pm_timer_require(true);
	report_info("the timer is at port 0x%x, %d bits", timer.port, timer.width);
	struct tsc_calibration calibration = tsc_calibrate(&timer);
	struct timed_read first = pm_timer_read_timed(&timer);
	struct timed_read second = pm_timer_read_timed(&timer);
	struct step_judgement judged = judge_step(&timer, &calibration, &first, &second);
	report_info("the timer stepped %u ticks; the TSC allows %u to %u", judged.step, judged.least, judged.most);
	report(judged.sound, "the step between two reads is as long as the TSC saw");
	return report_summary();
}
