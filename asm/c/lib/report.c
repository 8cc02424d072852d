/* report.c - PASS/FAIL lines and the SUMMARY, as kvm-unit-tests' lib/report.c.
 *
 * The lines are exactly those asm/include/report.inc prints, which the
 * harness reads (harness/core/result.py):
 *   PASS: / FAIL: / SKIP: / XFAIL: / XPASS: <what>, INFO: <figures>,
 *   SUMMARY: <n> tests, <m> unexpected failures, <x> expected failures, <k> skipped
 * with the clauses after "<n> tests" only when their count is not 0.
 * report_summary's exit code is FINISH's: 1 for any unexpected failure
 * (FAIL, XPASS), 77 when every test was skipped, else 0.
 */
#include "harness.h"

static unsigned tests, failures, expected_failures, skipped;

static void report_line(const char *kind, const char *format, va_list args)
{
	tests++;
	puts(kind);
	puts(": ");
	vprintf(format, args);
	putchar('\n');
}

void report(bool pass, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	if (!pass)
		failures++;
	report_line(pass ? "PASS" : "FAIL", format, args);
	va_end(args);
}

void report_xfail(bool xfail, bool pass, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	if (!xfail) {
		if (!pass)
			failures++;
		report_line(pass ? "PASS" : "FAIL", format, args);
	} else if (pass) {
		failures++; /* the known failure is gone: unexpected until the guest says so */
		report_line("XPASS", format, args);
	} else {
		expected_failures++;
		report_line("XFAIL", format, args);
	}
	va_end(args);
}

void report_skip(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	skipped++;
	report_line("SKIP", format, args);
	va_end(args);
}

void report_info(const char *format, ...)
{
	va_list args;
	va_start(args, format);
	puts("INFO: ");
	vprintf(format, args);
	putchar('\n');
	va_end(args);
}

int report_summary(void)
{
	printf("SUMMARY: %u tests", tests);
	if (failures)
		printf(", %u unexpected failures", failures);
	if (expected_failures)
		printf(", %u expected failures", expected_failures);
	if (skipped)
		printf(", %u skipped", skipped);
	putchar('\n');
	if (failures)
		return 1;
	/* Unlike kvm-unit-tests, a guest that reported nothing passes: it checked what it set out to, by running. */
	return skipped && skipped == tests ? SKIP_EXIT_CODE : 0;
}

void finish(void)
{
	exit(report_summary());
}
