"""Guests as pytest items, as a project that installs the package meets them (no conftest, no -p)."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import pmtimer_harness.frontends.commands.common  # noqa: F401  (loaded once, not per inner run)
import pytest

from tests.guests import PRELUDE

pytest_plugins = ["pytester"]

FAILING_GUEST = PRELUDE + """
        mov al, 'x'
        out 0xE9, al
        mov al, 9
        out 0xF4, al
"""

ERROR_GUEST = PRELUDE + """
        mov dx, TIMER_PORT
        in ax, dx
"""

PASSING_GUEST = PRELUDE + """
        mov al, 0
        out 0xF4, al
"""

WIDTH_GUEST = PRELUDE + """
        mov al, TIMER_WIDTH - 24        ; exit code 0 only on a 24-bit timer
        out 0xF4, al
"""


@pytest.fixture(autouse=True)
def without_hypothesis(monkeypatch):
    # Hypothesis's plugin imports hypothesis at the end of every inner run (seconds each): not needed here.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


@pytest.fixture
def project(pytester):
    guests = pytester.mkdir("guests")
    (guests / "failing.asm").write_text(FAILING_GUEST)
    (guests / "refused.asm").write_text(ERROR_GUEST)
    (guests / "expected_error.asm").write_text("; expect: error\n" + ERROR_GUEST)
    return pytester


def test_each_guest_is_an_item_failures_explain_themselves_and_junitxml_names_them(project):
    result = project.runpytest("--junitxml", "report.xml")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*guest failing.asm: expected pass, got fail (exit code 9)*",
        "x",
        "*guest refused.asm: expected pass, got error*",
        "*2-byte IN at port 0x0408*",
        "*in ax, dx*",
    ])
    cases = ET.parse(project.path / "report.xml").getroot().iter("testcase")
    outcomes = {case.get("name"): [child.tag for child in case] for case in cases}
    assert outcomes == {"expected_error": [], "failing": ["failure"], "refused": ["failure"]}


def test_only_the_configured_folders_hold_guests(pytester):
    (pytester.mkdir("guests") / "ok.asm").write_text(PASSING_GUEST)
    (pytester.mkdir("vendor") / "other.asm").write_text("this is not a guest")
    pytester.mkdir("guests/include")
    (pytester.path / "guests" / "include" / "lib.asm").write_text("not a guest either")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["guests/ok.asm::ok"])
    assert "other" not in result.stdout.str() and "lib" not in result.stdout.str()
    pytester.makeini("[pytest]\nharness_guests =\n    vendor/*.asm\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["vendor/other.asm::other"])
    assert "ok.asm" not in result.stdout.str()


def test_variants_are_parametrized_items_selectable_with_k(pytester):
    header = "; harness: --timer-width 32\n; variant: w24 --timer-width 24\n; variant: w32\n"
    (pytester.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*width.asm::width[[]w24[]] PASSED*", "*width.asm::width[[]w32[]] FAILED*"])
    result = pytester.runpytest("-k", "w24")
    result.assert_outcomes(passed=1, deselected=2)


def test_the_guests_own_configuration_runs_beside_its_variants_and_fails_when_it_fails(pytester):
    # The header's 32-bit timer fails WIDTH_GUEST; only the variant gives it the 24 bits it passes on.
    header = "; harness: --timer-width 32\n; variant: w24 --timer-width 24\n"
    (pytester.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*width.asm::width FAILED*", "*width.asm::width[[]w24[]] PASSED*"])


def test_platforms_named_in_the_expect_line_are_items_of_their_own(pytester):
    # TIMER_WIDTH - 24: exit code 0 only on a 24-bit timer; QEMU's is 24 bits, Xen's 32.
    header = "; harness: --timer-width 24\n; expect: pass qemu=pass xen=fail\n"
    (pytester.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*width.asm::width PASSED*", "*width[[]qemu[]] PASSED*", "*width[[]xen[]] PASSED*"])


def test_the_guest_marker_is_registered_and_deselects_guests(project):
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    project.runpytest("-m", "not guest", "--strict-markers").assert_outcomes(passed=1, deselected=3)


def test_an_assembly_error_or_a_bad_header_is_one_failure_without_a_traceback(pytester):
    guests = pytester.mkdir("guests")
    (guests / "broken.asm").write_text(PRELUDE + "        bogus_instruction eax\n")
    (guests / "bad.asm").write_text("; expect: maybe\n" + PASSING_GUEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*guest bad.asm: could not be run*",
        "*bad.asm:1: '; expect:' takes one of*",
        "*guest broken.asm: could not be run*",
        "*broken.asm:3: error:*",
    ])
    assert "Traceback" not in result.stdout.str() and "runner.py" not in result.stdout.str()


def test_a_platform_that_does_not_exist_is_a_failure_naming_the_platforms_even_without_nasm(pytester, monkeypatch):
    monkeypatch.setenv("HARNESS_NASM", str(pytester.path / "no-such-nasm"))
    (pytester.mkdir("guests") / "typo.asm").write_text("; expect: pass bhyv=error\n" + PASSING_GUEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*typo.asm:1: '; expect:' no platform 'bhyv'; the platforms are acpi, bhyve, *"])


def test_a_bad_option_in_the_header_or_a_variant_fails_the_guest_instead_of_passing_its_platform_items(pytester):
    guests = pytester.mkdir("guests")
    # An item expecting an error on a platform passes when the guest cannot be built there: not for a typo.
    (guests / "typo.asm").write_text("; harness: --timer-width 25\n; expect: pass qemu=error\n" + PASSING_GUEST)
    (guests / "variant.asm").write_text("; variant: fast --insn-ns fast\n" + PASSING_GUEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*typo.asm: its '; harness:' line: argument --timer-width: invalid choice: 25*",
        "*variant.asm: its '; variant: fast' line: argument --insn-ns: not a whole number: 'fast'*",
    ])


def test_upper_case_sources_are_guests_and_a_variant_named_as_a_declared_platform_is_refused(pytester):
    guests = pytester.mkdir("guests")
    (guests / "LOUD.ASM").write_text(PASSING_GUEST)
    (guests / "twice.asm").write_text("; expect: pass xen=pass\n; variant: xen --timer-width 24\n" + PASSING_GUEST)
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*LOUD.ASM::LOUD PASSED*",
        "*twice.asm::twice FAILED*",
        "*'; variant: xen' has the name of a platform '; expect:' names*",
    ])


def test_without_nasm_the_items_are_skipped_with_the_reason(project, monkeypatch):
    monkeypatch.setenv("HARNESS_NASM", str(project.path / "no-such-nasm"))
    result = project.runpytest("-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*NASM was not found*"])


def test_xdist_runs_the_guests_in_workers(project):
    pytest.importorskip("xdist")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"],
        cwd=project.path, capture_output=True, text=True, timeout=120,
    )
    assert "2 failed, 1 passed" in done.stdout, done.stdout + done.stderr
