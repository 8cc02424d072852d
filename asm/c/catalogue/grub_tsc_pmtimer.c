/* grub_tsc_pmtimer.c - GRUB's TSC calibration from the PM timer.
 *
 * GNU GRUB grub-core/kern/i386/tsc_pmtimer.c (grub_pmtimer_wait_count_tsc,
 * grub_tsc_calibrate_from_pmtimer), grub-core/kern/acpi.c
 * (grub_acpi_find_fadt); read here in rhboot/grub2, which carries it as is:
 *   - grub_acpi_find_fadt looks in the RSDT first and in the XSDT only when
 *     the RSDT names no FADT; the port is the FADT's PM_TMR_BLK, the ACPI 1.0
 *     field (struct grub_acpi_fadt's pmtimer).  No FADT, or a zero port, and
 *     GRUB calibrates some other way (skipped here).
 *   - It waits 3580 ticks ("Wait 1 ms") and counts the TSC meanwhile; the TSC
 *     rate is then 2^32 / that count, in TSC ticks per millisecond as a
 *     32.32 fraction (grub_tsc_rate).
 *   - Every read is masked to 24 bits, whatever the width: "caring which one
 *     we have isn't really worth it".  The count keeps the bits above 24 of
 *     the last value, and gets 2^24 added when it falls below the start: one
 *     wrap is handled, which is all 3580 ticks can cross.
 *   - A read of 0 or 0xFFFFFF is a "bad read", a sign of dead pins; the tenth
 *     gives up ("timer is broken"), and the count of them is never reset by a
 *     good read.  So does more than 8 x 3580 reads (num_iter), or more than
 *     40,000,000 TSC ticks (4 ms at 10 GHz), without reaching the end.
 * What the guest checks, starting 2048 ticks below the 24-bit wrap so that
 * the wrap handling is used: that the calibration succeeds, and that it ended
 * because the count moved 3580 ticks, not much more.  The count of TSC ticks
 * and the rate are printed.  GRUB does not check the rate, so neither does
 * the guest: bhyve's 720 ppm pass.
 * What breaks it: a port nothing answers (all ones: ten bad reads) where the
 * table GRUB reads first names a timer: an Intel PCH with ACPI_TIM_DIS, and
 * Xen PVH, whose RSDT copy of the FADT still names one at 0xB008 though its
 * XSDT's does not.  A timer named only in X_PM_TMR_BLK is not found.  And a
 * chipset whose reads are not latched (PIIX4): a read 256 ticks behind, in
 * the first 256 ticks of the wait, is below the start, so GRUB takes it for
 * a wrap, adds 2^24 and ends the "millisecond" at once: the TSC rate comes
 * out many times too high.
 */
// harness: --timer-start 0xFFF800
// expect: no-pm-timer=skip qemu-microvm=skip firecracker=skip crosvm=skip acrn=skip acrn-prelaunched=skip
// expect: cloud-hypervisor=skip hyperv=skip xen-pvh=fail piix4=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define ONE_MS_OF_TICKS 3580 /* "It's 3.579545 MHz clock. Wait 1 ms." */
#define BAD_READS_TO_GIVE_UP 10
#define IMPLAUSIBLE_TSC 40000000u

#define PLAUSIBLY_LATE 0x10000u /* 18 ms past the end: a busy host's pause, not a wrap that was not one */

#if CLOCK_VIRTUAL
#define PAUSED_ATTEMPTS 1
#else
#define PAUSED_ATTEMPTS 5
#endif

static const char IMPLAUSIBLE[] = "the count did not reach its end in time: tsc delta is implausible";
static const char *gave_up_because = "";
static uint32_t pmtimer_delta; /* the ticks the wait counted when it ended */

static uint64_t grub_pmtimer_wait_count_tsc(uint16_t pmtimer, uint16_t num_pm_ticks)
{
	uint32_t start, num_iter = 0;
	uint64_t cur, end, start_tsc, end_tsc;
	int bad_reads = 0;
	cur = start = inl(pmtimer) & LOW_24_BITS;
	end = start + num_pm_ticks;
	start_tsc = rdtsc();
	for (;;) {
		cur &= 0xFFFFFFFFFF000000ull;
		cur |= inl(pmtimer) & LOW_24_BITS;
		end_tsc = rdtsc();
		if (cur == LOW_24_BITS || cur == 0) {
			bad_reads++;
			if (bad_reads == BAD_READS_TO_GIVE_UP) {
				gave_up_because = "ten reads of 0 or 0xFFFFFF: timer is broken; giving up";
				return 0;
			}
		}
		if (cur < start)
			cur += 0x1000000u;
		if (cur >= end) {
			pmtimer_delta = (uint32_t)(cur - start);
			report_info("pmtimer delta is 0x%x, %u bad reads", pmtimer_delta, bad_reads);
			return end_tsc - start_tsc;
		}
		if (++num_iter > (uint32_t)num_pm_ticks << 3 || end_tsc - start_tsc > IMPLAUSIBLE_TSC) {
			gave_up_because = IMPLAUSIBLE;
			return 0;
		}
	}
}

static bool stopped_by_the_host(uint64_t tsc_diff)
{
	if (tsc_diff == 0)
		return gave_up_because == IMPLAUSIBLE;
	return pmtimer_delta - ONE_MS_OF_TICKS >= PLAUSIBLY_LATE;
}

int main(void)
{
	const uint8_t *fadt = acpi_find_rsdt_fadt();
	if (!fadt)
		fadt = acpi_find_xsdt_fadt();
	if (!fadt) {
		report(false, "the FADT is found");
		finish();
	}
	uint16_t pmtimer = (uint16_t)acpi_u32(fadt, FADT_PM_TMR_BLK);
	if (!pmtimer) {
		report_skip("FADT does not specify pmtimer; GRUB calibrates the TSC some other way");
		finish();
	}
	uint64_t tsc_diff = grub_pmtimer_wait_count_tsc(pmtimer, ONE_MS_OF_TICKS);
	/* On a real clock a busy host may stop the guest past GRUB's TSC limit, or past the end of its wait:
	 * no fault of the timer's, and gone on the next try, where a wrong timer fails every one. */
	for (int attempt = 1; attempt < PAUSED_ATTEMPTS && stopped_by_the_host(tsc_diff); attempt++) {
		report_info("%s (was the guest stopped?): calibrating again",
			    tsc_diff ? "the wait ended late" : gave_up_because);
		tsc_diff = grub_pmtimer_wait_count_tsc(pmtimer, ONE_MS_OF_TICKS);
	}
	if (tsc_diff == 0)
		report_info("%s", gave_up_because);
	else
		report_info("%u ticks took %u TSC ticks: grub_tsc_rate 0x%x (2^32 / that)", ONE_MS_OF_TICKS,
			    (uint32_t)tsc_diff, muldiv32(0x80000000u, 2, (uint32_t)tsc_diff));
	report(tsc_diff != 0, "grub_tsc_calibrate_from_pmtimer calibrates the TSC from the timer at port 0x%x",
	       pmtimer);
	if (tsc_diff != 0)
		report(pmtimer_delta - ONE_MS_OF_TICKS < PLAUSIBLY_LATE,
		       "the wait ends as the count passes 3580 ticks, not on a read behind the start (no wrap)");
	return report_summary();
}
