/* tsc.c - the TSC as a second clock, to tell a paused guest from a timer that jumps.
 *
 * The C form of asm/include/tsc.inc, which explains the method: on a real
 * machine's clock the host may stop the guest between two instructions, and
 * the timer jumps across the pause; the TSC runs through it too.  So a step
 * of the timer is sound when it is as long as the time the TSC saw pass.  The
 * TSC's rate is measured against the timer first.  Each timed read is
 * bracketed by two RDTSCs; only the TSC's low 32 bits are kept, as every span
 * measured here is far shorter than 2^32 TSC ticks.
 */
#include "harness.h"

#define CALIBRATION_TICKS (1u << 17) /* 36.6 ms of the timer */
#define CALIBRATION_TRIES 10
#define BRACKET_SHARE_SHIFT 8        /* a calibration read may take 1/256 of the span */
#define STEP_SLACK_SHIFT 6           /* the rate is known to better than 1/128 */
#define STEP_SLACK_TICKS 4           /* a read takes effect somewhere inside its bracket */
#define CALIBRATION_MAX_READS (1u << 21) /* 8x the reads 36.6 ms takes on QEMU TCG (135 ns a read) */
#define STILL_READS (1u << 16)            /* the same value this often: the timer stands still */

struct timed_read pm_timer_read_timed(const struct pm_timer *timer)
{
	struct timed_read read;
	read.tsc_before = (uint32_t)rdtsc();
	read.value = inl(timer->port);
	read.tsc_after = (uint32_t)rdtsc();
	return read;
}

uint32_t tsc_span_to_ticks(const struct tsc_calibration *calibration, uint32_t tsc_span)
{
	return muldiv32(tsc_span, calibration->ticks, calibration->tsc);
}

/* A pause between the two reads spoils nothing (both clocks run through it); a pause inside one of them
 * widens its bracket, and the calibration is made again. */
struct tsc_calibration tsc_calibrate(const struct pm_timer *timer)
{
	struct tsc_calibration calibration = { 1, 0xFFFFFFFFu };
	for (int tries = CALIBRATION_TRIES; tries > 0; tries--) {
		struct timed_read first = pm_timer_read_timed(timer), last;
		uint32_t reads = 0, still = 0, moved = 0, previous = 0;
		while ((moved = (inl(timer->port) - first.value) & timer->mask) < CALIBRATION_TICKS) {
			still = moved == previous ? still + 1 : 0;
			previous = moved;
			if (++reads == CALIBRATION_MAX_READS || still == STILL_READS) {
				report(false, "the timer counts: it moved %u ticks in %u reads", moved, reads);
				finish();
			}
		}
		last = pm_timer_read_timed(timer);
		calibration.ticks = (last.value - first.value) & timer->mask;
		calibration.tsc = last.tsc_after - first.tsc_before;
		uint32_t brackets = (first.tsc_after - first.tsc_before) + (last.tsc_after - last.tsc_before);
		if (brackets <= calibration.tsc >> BRACKET_SHARE_SHIFT)
			break;
	}
	report_info("the TSC ran %u ticks in %u timer ticks", calibration.tsc, calibration.ticks);
	bool runs = calibration.tsc > calibration.ticks;
	report(runs, "the TSC runs faster than the timer, as a second clock to judge it by");
	if (!runs) /* a TSC that does not run: every span is 0 ticks */
		calibration = (struct tsc_calibration){ 1, 0xFFFFFFFFu };
	return calibration;
}

/*   least = (later's tsc_before - earlier's tsc_after) in ticks - slack
 *   most  = (later's tsc_after - earlier's tsc_before) in ticks + slack */
struct step_judgement judge_step(const struct pm_timer *timer, const struct tsc_calibration *calibration,
				 const struct timed_read *earlier, const struct timed_read *later)
{
	struct step_judgement judged;
	uint32_t most = tsc_span_to_ticks(calibration, later->tsc_after - earlier->tsc_before);
	uint32_t slack = (most >> STEP_SLACK_SHIFT) + STEP_SLACK_TICKS;
	uint32_t least = tsc_span_to_ticks(calibration, later->tsc_before - earlier->tsc_after);
	judged.step = (later->value - earlier->value) & timer->mask;
	judged.most = most + slack;
	judged.least = least > slack ? least - slack : 0;
	judged.sound = judged.least <= judged.step && judged.step <= judged.most;
	return judged;
}

uint32_t brackets_in_ticks(const struct tsc_calibration *calibration, const struct timed_read *earlier,
			   const struct timed_read *later)
{
	uint32_t span = (later->tsc_after - later->tsc_before) + (earlier->tsc_after - earlier->tsc_before);
	return tsc_span_to_ticks(calibration, span);
}
