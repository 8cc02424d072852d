/* xen_init_pmtimer.c - Xen's ACPI PM timer as a platform timer: its width, and the TSC calibrated by it.
 *
 * xen-project/xen xen/arch/x86/acpi/boot.c (acpi_parse_fadt), xen/arch/x86/time.c
 * (init_pmtimer, calibrate_tsc, read_pt_and_tsc, CALIBRATE_FRAC):
 *   - acpi_parse_fadt takes X_PM_TMR_BLK from a revision-2 or later FADT when
 *     it is in I/O space, its access size is undefined (0) or a dword, and
 *     its bit offset is 0; the timer's width is then X_PM_TMR_BLK's bit
 *     width.  Otherwise, or when that address is 0, it takes PM_TMR_BLK, 32
 *     bits wide when PM_TMR_LEN is 4.  A width above 24 without TMR_VAL_EXT
 *     becomes 24 (f325d2477e: trust the flag).  The FADT is the one ACPICA's
 *     table code finds, the XSDT's first.
 *   - init_pmtimer refuses a timer unless the width is 24 or 32, and sets the
 *     counter's mask from it: Xen trusts TMR_VAL_EXT, so a 24-bit timer that
 *     claims 32 bits is masked with 32.
 *   - calibrate_tsc: read_pt_and_tsc reads the timer and the TSC until a
 *     bracket is no shorter than the shortest seen (after at least four
 *     tries), keeping the read with the shortest; then Xen spins until
 *     (read - count) & mask reaches the target, CALIBRATE_VALUE(3,579,545) =
 *     178,977 ticks (1/CALIBRATE_FRAC = 50 ms), takes a last read the same
 *     way, and when it ended past the target (an SMI, an NMI) scales the TSC
 *     span by target / actual.  The TSC's frequency is that span x 20.
 * What the guest checks, starting 8192 ticks below the 24-bit wrap so that
 * the 50 ms cross it:
 *   - the calibration ends as the count passes its target, less than 2^23
 *     ticks past it;
 *   - under the virtual clock, whose TSC counts 1 GHz exactly, the frequency
 *     Xen computes is within MAX_PPM of it.  On a real clock the TSC's rate
 *     is not known: that check is skipped.
 * What breaks it: TMR_VAL_EXT on a 24-bit timer (Bochs under UEFI): the
 * 32-bit mask makes the wrap a step of nearly 2^32, the spin ends there and
 * the frequency comes out a fraction of the TSC's (the 141 kHz a Xen user
 * saw); a timer at the wrong rate (bhyve: 720 ppm); a port nothing answers
 * (the count stands still, and Xen would spin for ever: the guest stops
 * after STANDING_STILL_READS equal reads); a chipset whose reads are not
 * latched (PIIX4), which Xen does not know: a read 256 ticks behind the
 * start is, masked, nearly 2^24 ticks past it, so the 50 ms end at once and
 * the TSC's frequency comes out a few hundred kHz.
 * A timer named only in an X_PM_TMR_BLK of quadword access (Hyper-V
 * generation 2) is not taken, and PM_TMR_BLK is 0 there: Xen has no PM
 * timer (skipped).
 */
// harness: --timer-start 0xFFE000
// expect: bhyve=fail hyperv=skip no-pm-timer=skip
// expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
// expect: acrn-prelaunched=skip bochs-uefi=fail piix4=fail intel-pch-tim-dis=fail
#include "catalogue.h"

#define FADT_REVISION_BYTE 8
#define GAS_BIT_WIDTH 1
#define GAS_BIT_OFFSET 2
#define GAS_ACCESS_SIZE 3
#define GAS_ACCESS_UNDEFINED 0
#define GAS_ACCESS_DWORD 3
#define CALIBRATE_FRAC 20
#define CALIBRATE_VALUE(freq) (((freq) + CALIBRATE_FRAC / 2) / CALIBRATE_FRAC)
#define MAX_PPM 100

static uint16_t pmtmr_ioport;
static unsigned pmtmr_width;

/* acpi_parse_fadt's choice of the timer's port and width. */
static void acpi_parse_fadt(const uint8_t *fadt)
{
	const uint8_t *x_blk = fadt + FADT_X_PM_TMR_BLK;
	uint8_t access = x_blk[GAS_ACCESS_SIZE];
	if (fadt[FADT_REVISION_BYTE] >= 2 && acpi_u32(fadt, 4) >= FADT_X_PM_TMR_BLK + 12 &&
	    x_blk[0] == GAS_SYSTEM_IO && (access == GAS_ACCESS_UNDEFINED || access == GAS_ACCESS_DWORD) &&
	    x_blk[GAS_BIT_OFFSET] == 0) {
		pmtmr_ioport = (uint16_t)acpi_u32(x_blk, 4);
		pmtmr_width = x_blk[GAS_BIT_WIDTH];
	}
	if (!pmtmr_ioport) {
		pmtmr_ioport = (uint16_t)acpi_u32(fadt, FADT_PM_TMR_BLK);
		pmtmr_width = fadt[FADT_PM_TMR_LEN] == 4 ? 32 : 0;
	}
	if (pmtmr_width > 24 && !(acpi_u32(fadt, FADT_FLAGS) & TMR_VAL_EXT))
		pmtmr_width = 24;
}

/* The read whose TSC bracket is the shortest of a few, with the TSC just after it. */
static uint32_t read_pt_and_tsc(uint32_t *tsc)
{
	uint32_t tsc_prev = *tsc = tsc_now(), tsc_min = UINT32_MAX, best = UINT32_MAX;
	for (unsigned i = 0;; ++i) {
		uint32_t pt = inl(pmtmr_ioport), tsc_cur = tsc_now(), tsc_delta = tsc_cur - tsc_prev;
		if (tsc_delta < tsc_min) {
			tsc_min = tsc_delta;
			*tsc = tsc_cur;
			best = pt;
		} else if (i > 2) {
			break;
		}
		tsc_prev = tsc_cur;
	}
	return best;
}

int main(void)
{
	const uint8_t *fadt = acpi_find_fadt();
	if (!fadt) {
		report(false, "the FADT is found");
		finish();
	}
	acpi_parse_fadt(fadt);
	report_info("PM-Timer IO Port: 0x%x (%u bits)", pmtmr_ioport, pmtmr_width);
	if (!pmtmr_ioport) {
		report_skip("the FADT gives Xen no PM timer");
		finish();
	}
	report(pmtmr_width == 24 || pmtmr_width == 32, "init_pmtimer takes a %u-bit timer", pmtmr_width);
	if (pmtmr_width != 24 && pmtmr_width != 32)
		finish();

	uint32_t start, end, mask = UINT32_MAX >> (32 - pmtmr_width), target = CALIBRATE_VALUE(PM_TMR_HZ);
	uint32_t count = read_pt_and_tsc(&start), last = count, now, unchanged = 0;
	while ((((now = inl(pmtmr_ioport)) - count) & mask) < target) {
		unchanged = now == last ? unchanged + 1 : 0;
		last = now;
		if (unchanged == STANDING_STILL_READS) {
			report(false, "the timer moves during the calibration (Xen would wait for ever)");
			finish();
		}
	}
	uint32_t actual = (read_pt_and_tsc(&end) - count) & mask, elapsed = end - start;
	if (actual > target)
		elapsed = muldiv32(elapsed, target, actual);
	uint64_t frequency = (uint64_t)elapsed * CALIBRATE_FRAC;
	report_info("%u ticks for a target of %u; the TSC runs at %llu Hz", actual, target,
		    (unsigned long long)frequency);
	/* A step past the target, however late a busy host made it: not the 2^32 - 2^24 of a wrong mask, nor
	 * the step back of a stray read. */
	report(actual - target < 1u << 23, "the calibration ends as the count passes its target");
#if CLOCK_VIRTUAL
	uint64_t error = frequency > VIRTUAL_TSC_HZ ? frequency - VIRTUAL_TSC_HZ : VIRTUAL_TSC_HZ - frequency;
	report(error <= VIRTUAL_TSC_HZ / 1000000u * MAX_PPM, "the TSC's frequency, calibrated by the timer, is "
	       "within %u ppm of the TSC's own", MAX_PPM);
#else
	report_skip("the TSC's own rate is not known on this clock: the calibration is not checked against it");
#endif
	return report_summary();
}
