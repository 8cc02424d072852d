/* catalogue.h - what the catalogue's guests share: a span of the timer, judged by the TSC.
 *
 * Each guest in this folder is the timer code of one real system, written
 * after its upstream functions (cited in the guest's header: their logic, not
 * their text), run against the timer the ACPI tables describe, reporting what
 * that code relies on.  They judge the timer by a second clock, the TSC:
 *
 *   - under the harness's virtual clock the TSC counts virtual nanoseconds,
 *     one tick each (harness/core/clock.py, TSC_HZ), so a span of the timer is
 *     known to a few ticks and a timer at the wrong rate is caught: bhyve's
 *     counts 26 ticks too many in 10 ms;
 *   - on a real machine's clock (the host clock, QEMU, Bochs) the TSC's rate
 *     is measured against the timer first (lib/tsc.c) and a span is judged
 *     with its slack: a wrong mask, a jump or a timer that stands still is
 *     caught, a rate error is not.
 *
 * A span begins just below the 24-bit wrap, where a consumer's mask or its
 * extension of the count shows: under the virtual clock the guest's header
 * starts the counter there (--timer-start 0xFFE000: 8192 ticks, 2.3 ms of
 * start-up before the wrap); on a real clock the guest waits for it.
 */
#ifndef CATALOGUE_H
#define CATALOGUE_H

#include "harness.h"

#define VIRTUAL_TSC_HZ 1000000000u
#define LOW_24_BITS 0x00FFFFFFu
#define NEAR_THE_WRAP 0x00FFC000u   /* 4.6 ms below it: a 10 ms span crosses it */
#define TEN_MS_OF_TICKS 35795u      /* 10 ms x 3,579,545 Hz */
#define STANDING_STILL_READS 100000 /* a timer that moves changes many times in this many reads */
#define WRAPPED_BACK 0x100000u      /* a step back this long is a wrap, not a stray read */
/* Under the virtual clock a read is placed within its TSC bracket; Bochs's count moves in 1 us steps
 * and Hyper-V's in 100 ns ones (3.6 ticks at most), so a span is judged within this many ticks. */
#define EXACT_SLACK_TICKS 4u

struct reference_clock {
	struct tsc_calibration rate; /* timer ticks per TSC ticks */
	bool exact;                  /* the virtual clock's TSC: the rate is known, not measured */
};

static inline struct reference_clock reference_clock(const struct pm_timer *timer)
{
#if CLOCK_VIRTUAL
	(void)timer;
	return (struct reference_clock){ { PM_TMR_HZ, VIRTUAL_TSC_HZ }, true };
#else
	/* 24 bits, whatever the consumer's mask: the calibration's 2^17 ticks are a forward step in either width. */
	struct pm_timer low_24_bits = { timer->port, 24, LOW_24_BITS };
	return (struct reference_clock){ tsc_calibrate(&low_24_bits), false };
#endif
}

/* The TSC ticks in this many timer ticks; UINT32_MAX where they are more than 32 bits hold. */
static inline uint32_t tsc_for_ticks(const struct reference_clock *clock, uint32_t ticks)
{
	uint64_t product = (uint64_t)ticks * clock->rate.tsc;
	if ((uint32_t)(product >> 32) >= clock->rate.ticks)
		return UINT32_MAX;
	return muldiv32(ticks, clock->rate.tsc, clock->rate.ticks);
}

static inline uint32_t tsc_now(void)
{
	return (uint32_t)rdtsc();
}

/* Reads until the low 24 bits are just below the wrap.  NULL when they are; else why they never will be: the
 * count stood still, or went back by more than a stray read's step (it wrapped below the 24-bit top). */
static inline const char *wait_until_near_the_wrap(uint16_t port)
{
	uint32_t last = inl(port) & LOW_24_BITS, unchanged = 0;
	while (last < NEAR_THE_WRAP) {
		uint32_t now = inl(port) & LOW_24_BITS;
		unchanged = now == last ? unchanged + 1 : 0;
		if (unchanged == STANDING_STILL_READS)
			return "the count stands still";
		if (last - now < LOW_24_BITS / 2 && last - now > WRAPPED_BACK)
			return "the count went back before reaching the top of 24 bits: it wraps below 2^24";
		last = now;
	}
	return NULL;
}

/* Reports the FAIL that ends a span that cannot begin, and says whether it can. */
static inline bool near_the_wrap(uint16_t port)
{
	const char *why_not = wait_until_near_the_wrap(port);
	if (why_not)
		report(false, "the count reaches 0x%x, just below the 24-bit wrap (%s)", NEAR_THE_WRAP, why_not);
	return !why_not;
}

/* One read through the consumer's own reader, bracketed by the TSC: what the consumer saw, and when. */
static inline struct timed_read timed_by(uint32_t (*reader)(void))
{
	struct timed_read read;
	read.tsc_before = tsc_now();
	read.value = reader();
	read.tsc_after = tsc_now();
	return read;
}

/* The guest's own measuring read, as distinct from the consumer's: three reads in order (compared as
 * they are, as FreeBSD's acpi_timer_get_timecount_safe does), the middle one kept, bracketed by the TSC
 * from before the first to after the last.  So a chipset's stray read (PIIX4's, 256 ticks behind) is
 * never the guest's measure of what a consumer did. */
static inline struct timed_read steady_read_timed(uint16_t port)
{
	struct timed_read read;
	uint32_t u1, u2, u3;
	read.tsc_before = tsc_now();
	u2 = inl(port);
	u3 = inl(port);
	do {
		u1 = u2;
		u2 = u3;
		u3 = inl(port);
	} while (u1 > u2 || u2 > u3);
	read.value = u2;
	read.tsc_after = tsc_now();
	return read;
}

/* The step from one timed read to a later one, as a consumer with this mask computes it, against the
 * time the TSC saw pass between them. */
static inline struct step_judgement judge_span(uint32_t mask, const struct reference_clock *clock,
					       const struct timed_read *earlier, const struct timed_read *later)
{
	struct pm_timer view = { 0, 32, mask };
	if (!clock->exact)
		return judge_step(&view, &clock->rate, earlier, later);
	struct step_judgement judged;
	uint32_t least = tsc_span_to_ticks(&clock->rate, later->tsc_before - earlier->tsc_after);
	judged.step = (later->value - earlier->value) & mask;
	judged.least = least > EXACT_SLACK_TICKS ? least - EXACT_SLACK_TICKS : 0;
	judged.most = tsc_span_to_ticks(&clock->rate, later->tsc_after - earlier->tsc_before) + EXACT_SLACK_TICKS;
	judged.sound = judged.least <= judged.step && judged.step <= judged.most;
	return judged;
}

static inline void report_span(const struct step_judgement *judged, const char *what)
{
	report_info("%u ticks; the TSC allows %u to %u", judged->step, judged->least, judged->most);
	report(judged->sound, "%s", what);
}

/* The consumer's own reader across the wrap at 2^24: a read just below the wrap, reads for 10 ms by the
 * TSC, a read after; the step, masked as the consumer masks it, judged against the TSC. */
static inline void span_across_the_wrap(uint32_t (*reader)(void), uint16_t port, uint32_t mask,
					const struct reference_clock *clock, const char *what)
{
	if (!near_the_wrap(port))
		return;
	struct timed_read start = timed_by(reader);
	uint32_t span = tsc_for_ticks(clock, TEN_MS_OF_TICKS);
	while (tsc_now() - start.tsc_after < span)
		(void)reader();
	struct timed_read end = timed_by(reader);
	report_info("mask 0x%x; the span runs from 0x%x to 0x%x", mask, start.value, end.value);
	struct step_judgement judged = judge_span(mask, clock, &start, &end);
	report_span(&judged, what);
}

#endif
