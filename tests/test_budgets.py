"""Every run ends within its budget plus a small margin, whatever the guest does."""

import subprocess
import sys
import time

import pytest
from pmtimer_harness.core.result import Verdict

from tests.guests import run_source

MARGIN_S = 2.0  # generous: the machine may be loaded; an overshoot is a toggle period (4.7 s) or more

SLEEP_UNTIL_THE_TOGGLE = """
        mov dx, 0x402           ; PM1_EN: TMR_EN; the PICs pass nothing, but HLT waits for the toggle
        mov ax, 1
        out dx, ax
        sti
idle:   hlt
        jmp idle
"""


@pytest.mark.parametrize("width", ["24", "32"])  # the top bit toggles 2.3 s or 600 s away
def test_a_host_clock_hlt_waiting_for_a_far_timer_event_honours_the_timeout(tmp_path, width):
    began = time.perf_counter()
    run = run_source(tmp_path, SLEEP_UNTIL_THE_TOGGLE, "--clock", "host", "--timer-width", width, "--timeout", "0.5")
    assert run.result.verdict == Verdict.TIMEOUT
    assert "wall-clock budget" in run.result.report.reason
    assert time.perf_counter() - began < 0.5 + MARGIN_S


def test_a_jump_to_a_non_canonical_address_ends_the_run_at_once_with_the_default_budget(tmp_path):
    # It once ran for tens of seconds (with the default budget) and then corrupted the interpreter
    # (docs/limits.md: the translation cache asked about from a hook).
    source = tmp_path / "far.asm"
    source.write_text("bits 64\norg 0x1000\n mov rax, 0x8000000000000000\n jmp rax\n")
    completed = subprocess.run(
        [sys.executable, "-m", "pmtimer_harness", "run", str(source), "--mode", "64", "--load-address", "0x1000"],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 4, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr and len(completed.stderr) < 2000, completed.stderr[:2000]
    assert "fetch at 0x8000000000000000" in completed.stdout
    assert "not canonical: a real CPU raises #GP" in completed.stdout
    assert "2 instructions" in completed.stdout


@pytest.mark.parametrize("timeout", ["3600", "86400"])  # the largest --timeout: a day, 8.64e10 us
def test_a_long_timeout_does_not_end_the_run_at_once(tmp_path, timeout):
    run = run_source(tmp_path, "spin:   jmp spin\n", "--timeout", timeout, "--max-instructions", "300000")
    assert run.result.verdict == Verdict.TIMEOUT
    assert "instruction budget" in run.result.report.reason


@pytest.mark.parametrize("clock", ["virtual", "host"])
def test_a_spinning_guest_stops_at_the_timeout(tmp_path, clock):
    options = ["--clock", clock, "--timeout", "0.3"]
    if clock == "virtual":
        options += ["--max-instructions", str(10**12)]
    began = time.perf_counter()
    run = run_source(tmp_path, "spin:   jmp spin\n", *options)
    assert run.result.verdict == Verdict.TIMEOUT
    assert time.perf_counter() - began < 0.3 + MARGIN_S


