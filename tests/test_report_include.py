"""asm/include/report.inc, the guests' runtime: its lines and SUMMARY as kvm-unit-tests prints them, its exit codes."""

import pytest
from pmtimer_harness.core.result import CheckSummary, Verdict, check_summary
from pmtimer_harness.frontends.suite import checks_figure

from tests.guests import run_source

BODY = """
        %include "report.inc"
guest_main:
        mov     esi, 0x12345678
        stc
        CHECK   nc, "carry is clear"        ; fails, and must leave CF set
        jnc     the_flags_were_lost
        cmp     esi, 0x12345678
        jne     the_flags_were_lost
        mov     al, 0
        out     0xF4, al
the_flags_were_lost:
        mov     al, 9
        out     0xF4, al
"""


def test_check_leaves_flags_and_esi_as_they_were(tmp_path):
    run = run_source(tmp_path, BODY)
    assert "FAIL: carry is clear" in run.result.console
    assert run.result.exit_code == 0


def finish_after(checks: str) -> str:
    return '        %include "report.inc"\nguest_main:\n' + checks + "        FINISH\n"


HOLDS = "        cmp eax, eax\n"


def test_the_summary_line_is_kvm_unit_tests_and_names_only_counts_that_are_not_0(tmp_path):
    run = run_source(tmp_path, finish_after(HOLDS + '        CHECK e, "equal"\n'))
    assert run.result.console == "PASS: equal\nSUMMARY: 1 tests\n"
    assert (run.result.verdict, run.result.exit_code) == (Verdict.PASS, 0)


def test_every_kind_of_report_is_counted_as_report_summary_counts_it(tmp_path):
    checks = (
        HOLDS + '        CHECK e, "holds"\n'
        + HOLDS + '        CHECK ne, "fails"\n'
        + HOLDS + '        CHECK_XFAIL ne, "known to fail"\n'
        + HOLDS + '        CHECK_XFAIL e, "known to fail, yet holds"\n'
        + '        SKIP "no timer here"\n'
    )
    console = run_source(tmp_path, finish_after(checks)).result.console
    assert console.splitlines() == [
        "PASS: holds", "FAIL: fails", "XFAIL: known to fail", "XPASS: known to fail, yet holds", "SKIP: no timer here",
        "SUMMARY: 5 tests, 2 unexpected failures, 1 expected failures, 1 skipped",
    ]
    assert check_summary(console) == CheckSummary(tests=5, failures=2, expected_failures=1, skipped=1)


def test_an_expected_failure_and_a_skip_beside_a_pass_still_pass(tmp_path):
    checks = HOLDS + '        CHECK e, "holds"\n' + HOLDS + '        CHECK_XFAIL ne, "known"\n' + '        SKIP "n/a"\n'
    run = run_source(tmp_path, finish_after(checks))
    assert (run.result.verdict, run.result.exit_code) == (Verdict.PASS, 0)
    assert run.result.console.endswith("SUMMARY: 3 tests, 1 expected failures, 1 skipped\n")


def test_a_guest_whose_every_test_was_skipped_exits_77_and_is_skipped(tmp_path):
    run = run_source(tmp_path, finish_after('        SKIP "no timer"\n        SKIP "no PM1 block"\n'))
    assert (run.result.verdict, run.result.exit_code) == (Verdict.SKIP, 77)
    assert run.result.console.endswith("SUMMARY: 2 tests, 2 skipped\n")
    assert check_summary(run.result.console).figure == "0/0, 2 skipped"


def test_an_xpass_fails_the_guest(tmp_path):
    run = run_source(tmp_path, finish_after(HOLDS + '        CHECK_XFAIL e, "the old bug is gone"\n'))
    assert (run.result.verdict, run.result.exit_code) == (Verdict.FAIL, 1)


def test_skip_and_check_xfail_keep_registers_and_flags(tmp_path):
    body = """
        %include "report.inc"
guest_main:
        mov     esi, 0x12345678
        stc
        SKIP    "not here"
        jnc     lost
        CHECK_XFAIL nc, "carry is clear"
        jnc     lost
        cmp     esi, 0x12345678
        jne     lost
        mov     al, 0
        out     0xF4, al
lost:
        mov     al, 9
        out     0xF4, al
"""
    run = run_source(tmp_path, body)
    assert run.result.console == "SKIP: not here\nXFAIL: carry is clear\n"
    assert run.result.exit_code == 0


@pytest.mark.parametrize(
    ("line", "figure"),
    [
        ("SUMMARY: 8 tests", "8/8"),
        ("SUMMARY: 5 tests, 1 unexpected failures", "4/5"),
        ("SUMMARY: 4 tests, 1 expected failures", "4/4"),
        ("SUMMARY: 6 tests, 1 unexpected failures, 2 skipped", "3/4, 2 skipped"),
    ],
)
def test_the_suite_s_checks_column_reads_kvm_unit_tests_summary_lines(line, figure):
    assert checks_figure(f"PASS: x\n{line}\n") == figure


def test_the_last_summary_line_counts_and_a_line_of_another_form_is_none():
    assert checks_figure("SUMMARY: 3 checks, 0 failed\n") == "-"
    assert check_summary("SUMMARY: 1 tests\nSUMMARY: 2 tests, 1 skipped\n") == CheckSummary(tests=2, skipped=1)
