"""Guests as pytest items, as a project that installs the package meets them (no conftest, no -p)."""

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pmtimer_harness.frontends.commands.common  # noqa: F401  (loaded once, not per inner run)
import pytest

from tests.guests import BUNDLED, PRELUDE
from tests.test_readme import python_blocks

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

REPORTED_FAILURE = PRELUDE + """
        mov si, message
next:   lodsb
        out 0xE9, al
        cmp al, 0
        jne next
        mov al, 1
        out 0xF4, al
message: db "PASS: the port answers", 10, "FAIL: the timer moved", 10, "FAIL: the counter wrapped", 10, 0
"""

SKIPPED_GUEST = PRELUDE + """
        mov si, message
next:   lodsb
        out 0xE9, al
        cmp al, 0
        jne next
        mov al, 77                      ; every test skipped: kvm-unit-tests' (automake's) code
        out 0xF4, al
message: db "SKIP: no timer on this platform", 10, "SUMMARY: 1 tests, 1 skipped", 10, 0
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
def opted_in(pytester):
    """A project whose ini option names its guests/ folder."""
    pytester.makeini("[pytest]\nharness_guests =\n    guests/*.asm\n")
    return pytester


@pytest.fixture
def project(opted_in):
    guests = opted_in.mkdir("guests")
    (guests / "failing.asm").write_text(FAILING_GUEST)
    (guests / "refused.asm").write_text(ERROR_GUEST)
    (guests / "expected_error.asm").write_text("; expect: error\n" + ERROR_GUEST)
    return opted_in


def test_each_guest_is_an_item_failures_explain_themselves_and_junitxml_names_them_with_the_run(project):
    result = project.runpytest("--junitxml", "report.xml")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*guest failing.asm: expected pass, got fail (exit code 9)*",
        "x",
        "*guest refused.asm: expected pass, got error*",
        "*2-byte IN at port 0x0408*",
        "*in ax, dx*",
    ])
    cases = list(ET.parse(project.path / "report.xml").getroot().iter("testcase"))
    outcomes = {case.get("name"): [child.tag for child in case if child.tag != "properties"] for case in cases}
    assert outcomes == {"expected_error": [], "failing": ["failure"], "refused": ["failure"]}
    # What a CI dashboard shows beside the outcome.
    properties = {case.get("name"): {prop.get("name"): prop.get("value") for prop in case.iter("property")}
                  for case in cases}
    assert properties["failing"] == {"verdict": "fail", "expect": "pass", "platform": "acpi", "instructions": "4"}
    assert properties["expected_error"]["verdict"] == "error"


def collected(result) -> list[str]:
    return [line for line in result.stdout.lines if ".asm::" in line]


def test_a_project_that_names_no_guests_has_no_guest_items_and_one_that_does_has_only_those(pytester):
    (pytester.mkdir("asm") / "boot.asm").write_text("this is the project's firmware, not a guest")
    (pytester.mkdir("guests") / "ok.asm").write_text(PASSING_GUEST)
    (pytester.mkdir("vendor") / "other.asm").write_text(PASSING_GUEST)
    (pytester.mkdir("guests/include") / "lib.asm").write_text("not a guest either")
    assert collected(pytester.runpytest("--collect-only", "-q")) == []
    pytester.makeini("[pytest]\nharness_guests =\n    *guests/*.asm\n")
    assert collected(pytester.runpytest("--collect-only", "-q")) == ["guests/ok.asm::ok"]
    result = pytester.runpytest("--collect-only", "-q", "--harness-guests", "vendor/*.asm")
    assert collected(result) == ["guests/ok.asm::ok", "vendor/other.asm::other"]


def test_a_guest_named_on_the_command_line_is_an_item_without_a_glob_its_folder_is_not(pytester):
    (pytester.mkdir("firmware") / "loop1.asm").write_text(PASSING_GUEST)
    pytester.runpytest("firmware/loop1.asm").assert_outcomes(passed=1)
    assert collected(pytester.runpytest("--collect-only", "-q", "firmware")) == []


def test_the_options_are_in_pytest_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines([
        "*--harness-guests=GLOB*", "*--harness-platform=NAME*", "*--harness-clock=*",
        "*--harness-require-nasm*", "*harness_guests (linelist):*",
    ])


def test_variants_are_parametrized_items_selectable_with_k(opted_in):
    header = "; harness: --timer-width 32\n; variant: w24 --timer-width 24\n; variant: w32\n"
    (opted_in.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = opted_in.runpytest("-v")
    result.stdout.fnmatch_lines(["*width.asm::width[[]w24[]] PASSED*", "*width.asm::width[[]w32[]] FAILED*"])
    result = opted_in.runpytest("-k", "w24")
    result.assert_outcomes(passed=1, deselected=2)


def test_the_guests_own_configuration_runs_beside_its_variants_and_fails_when_it_fails(opted_in):
    # The header's 32-bit timer fails WIDTH_GUEST; only the variant gives it the 24 bits it passes on.
    header = "; harness: --timer-width 32\n; variant: w24 --timer-width 24\n"
    (opted_in.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = opted_in.runpytest("-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*width.asm::width FAILED*", "*width.asm::width[[]w24[]] PASSED*"])


def test_platforms_named_in_the_expect_line_are_items_of_their_own(opted_in):
    # TIMER_WIDTH - 24: exit code 0 only on a 24-bit timer; QEMU's is 24 bits, Xen's 32.
    header = "; harness: --timer-width 24\n; expect: pass qemu=pass xen=fail\n"
    (opted_in.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = opted_in.runpytest("-v")
    result.assert_outcomes(passed=2, xfailed=1)
    result.stdout.fnmatch_lines(["*width.asm::width PASSED*", "*width[[]qemu[]] PASSED*", "*width[[]xen[]] XFAIL*"])


def test_the_guest_marker_is_registered_and_deselects_guests(project):
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    project.runpytest("-m", "not guest", "--strict-markers").assert_outcomes(passed=1, deselected=3)


def test_an_assembly_error_or_a_bad_header_is_one_failure_without_a_traceback(opted_in):
    guests = opted_in.mkdir("guests")
    (guests / "broken.asm").write_text(PRELUDE + "        bogus_instruction eax\n")
    (guests / "bad.asm").write_text("; expect: maybe\n" + PASSING_GUEST)
    result = opted_in.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*guest bad.asm: could not be run*",
        "*bad.asm:1: '; expect:' takes one of*",
        "*guest broken.asm: could not be run*",
        "*broken.asm:3: error:*",
    ])
    assert "Traceback" not in result.stdout.str() and "runner.py" not in result.stdout.str()


def test_a_platform_that_does_not_exist_is_a_failure_naming_the_platforms_even_without_nasm(opted_in, monkeypatch):
    monkeypatch.setenv("HARNESS_NASM", str(opted_in.path / "no-such-nasm"))
    (opted_in.mkdir("guests") / "typo.asm").write_text("; expect: pass bhyv=error\n" + PASSING_GUEST)
    result = opted_in.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*typo.asm:1: '; expect:' no platform 'bhyv'; the platforms are acpi, bhyve, *"])


def test_a_bad_option_in_the_header_or_a_variant_fails_the_guest_instead_of_passing_its_platform_items(opted_in):
    guests = opted_in.mkdir("guests")
    # An item expecting an error on a platform passes when the guest cannot be built there: not for a typo.
    (guests / "typo.asm").write_text("; harness: --timer-width 25\n; expect: pass qemu=error\n" + PASSING_GUEST)
    (guests / "variant.asm").write_text("; variant: fast --insn-ns fast\n" + PASSING_GUEST)
    result = opted_in.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*typo.asm: its '; harness:' line: argument --timer-width: invalid choice: 25*",
        "*variant.asm: its '; variant: fast' line: argument --insn-ns: not a whole number: 'fast'*",
    ])


def test_upper_case_sources_are_guests_and_a_variant_named_as_a_declared_platform_is_refused(opted_in):
    guests = opted_in.mkdir("guests")
    (guests / "LOUD.ASM").write_text(PASSING_GUEST)
    (guests / "twice.asm").write_text("; expect: pass xen=pass\n; variant: xen --timer-width 24\n" + PASSING_GUEST)
    result = opted_in.runpytest("-v")
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


def test_without_nasm_the_items_fail_when_nasm_is_required(project, monkeypatch):
    monkeypatch.setenv("HARNESS_NASM", str(project.path / "no-such-nasm"))
    result = project.runpytest("--harness-require-nasm")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*NASM was not found*(--harness-require-nasm)"])
    assert "Traceback" not in result.stdout.str()


def test_harness_platform_runs_every_guest_there_held_to_its_expectation_there(opted_in):
    # On Xen's 32-bit timer WIDTH_GUEST exits 8: a failure, as its header expects there.
    header = "; harness: --timer-width 24\n; expect: pass qemu=pass xen=fail\n; variant: again\n"
    (opted_in.mkdir("guests") / "width.asm").write_text(header + WIDTH_GUEST)
    result = opted_in.runpytest("-v", "--harness-platform", "xen", "--junitxml", "report.xml")
    result.assert_outcomes(xfailed=2, deselected=2)
    result.stdout.fnmatch_lines(["*width.asm::width XFAIL*", "*width.asm::width[[]again[]] XFAIL*"])
    platforms = {prop.get("value") for prop in ET.parse(opted_in.path / "report.xml").iter("property")
                 if prop.get("name") == "platform"}
    assert platforms == {"xen"}


def test_an_unknown_harness_platform_or_clock_is_a_usage_error(opted_in):
    result = opted_in.runpytest("--harness-platform", "xenn")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-platform: no platform 'xenn'; the platforms are acpi, bhyve, *"])
    result = opted_in.runpytest("--harness-clock", "sundial")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--harness-clock: invalid choice: 'sundial'*"])


def test_an_expected_failure_is_xfailed_with_its_reason_and_a_stale_one_fails_strictly(opted_in):
    guests = opted_in.mkdir("guests")
    (guests / "known.asm").write_text("; expect: fail\n" + REPORTED_FAILURE)
    (guests / "fixed.asm").write_text("; expect: fail\n" + PASSING_GUEST)
    (guests / "broken.asm").write_text("; expect: fail\n" + ERROR_GUEST)
    (guests / "inapplicable.asm").write_text("; expect: skip\n" + SKIPPED_GUEST)
    result = opted_in.runpytest("-rxfs")
    result.assert_outcomes(xfailed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines([
        "*guest broken.asm: expected fail, got error*",
        "*[[]XPASS(strict)[]] guest fixed.asm: expected fail, got pass (exit code 0)*",
        "XFAIL guests/known.asm::known - expected fail: FAIL: the timer moved (and 1 more)",
        "SKIPPED *SKIP: no timer on this platform",
    ])


def test_the_readme_s_harness_run_example_passes_as_a_test_with_its_run_in_the_junit_properties(pytester):
    example = next(block for block in python_blocks() if "harness_run" in block)
    shutil.copytree(BUNDLED, pytester.path / "asm", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makepyfile(test_example=example)
    pytester.runpytest("--junitxml", "report.xml").assert_outcomes(passed=1)
    report = ET.parse(pytester.path / "report.xml")
    properties = {prop.get("name"): prop.get("value") for prop in report.iter("property")}
    assert properties["platform"] == "xen" and properties["verdict"] == "pass"


HARNESS_RUN_TESTS = """
from pmtimer_harness import MachineConfig

IMAGE = bytes([0xB0, 0x00, 0xE6, 0xF4])  # mov al, 0; out 0xF4, al


def test_the_command_line_s_options(harness_run):
    run = harness_run(IMAGE)
    assert (run.config.platform, run.config.clock) == ("xen", "host")


def test_the_test_s_own_options_over_them(harness_run):
    assert harness_run(IMAGE, ["--platform", "bhyve"]).config.platform == "bhyve"
    assert harness_run(IMAGE, "--platform qemu --clock virtual").config.clock == "virtual"


def test_a_configuration_as_given(harness_run):
    assert harness_run(IMAGE, MachineConfig()).config.clock == "virtual"


def test_a_source_without_nasm(harness_run):
    harness_run("nowhere.asm")
"""


def test_harness_run_lays_the_test_s_options_over_the_command_line_s_and_skips_or_fails_without_nasm(
    pytester, monkeypatch
):
    monkeypatch.setenv("HARNESS_NASM", str(pytester.path / "no-such-nasm"))
    (pytester.path / "nowhere.asm").write_text(PASSING_GUEST)
    pytester.makepyfile(test_runs=HARNESS_RUN_TESTS)
    pytester.runpytest("--harness-platform", "xen", "--harness-clock", "host").assert_outcomes(passed=3, skipped=1)
    result = pytester.runpytest("--harness-require-nasm", "-k", "without_nasm")
    result.assert_outcomes(failed=1, deselected=3)
    result.stdout.fnmatch_lines(["*NASM was not found*(--harness-require-nasm)"])
