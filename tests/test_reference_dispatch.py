"""The reference path (``--dispatch reference``) gives what the fast paths give, compiled and Python.

Under the virtual clock: the same verdict, exit code, console, instruction
count, virtual time, and the same value at the same time for every port
access, on every bundled guest.  The reference path calls Python before every
instruction (about 2-4 us each), so a guest that runs more than
``LONG_GUEST_INSTRUCTIONS`` is compared up to an instruction budget of
``PREFIX_INSTRUCTIONS`` (both paths must then stop at the same count with the
same reads); ``HARNESS_SLOW_TESTS=1`` compares those in full too (two to five
minutes).  Under the host clock, where values vary run to run, the verdicts
of the guests whose verdict does not depend on host timing must agree.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pmtimer_harness.core import reference_dispatch as reference_module
from pmtimer_harness.core.config import native_dispatch_built
from pmtimer_harness.core.reference_dispatch import ReferenceDispatch
from pmtimer_harness.tools.runner import run_guest

from tests.guests import BUNDLED, bundled, run_source

FAST_PATHS = ("native", "python") if native_dispatch_built() else ("python",)
LONG_GUEST_INSTRUCTIONS = 1_000_000
PREFIX_INSTRUCTIONS = 100_000
FULL = bool(os.environ.get("HARNESS_SLOW_TESTS"))
# Under the host clock these finish in well under a second and their verdict does not hang on timing
# (access_qemu.asm allows 64 ticks, 18 us, between two reads: too few for the reference path).
HOST_CLOCK_GUESTS = (
    "access_bhyve_narrow.asm", "access_bhyve_write.asm", "discovery.asm", "hello.asm", "monotonic.asm",
    "snapshot_here.asm",
)


def outcome(guest: Path, dispatch: str, *options: str) -> dict[str, object]:
    """Everything a run shows that does not depend on the host: the result and every access with its time."""
    accesses: list[tuple[object, int]] = []
    observer = lambda access, ns: accesses.append((access, ns))  # noqa: E731
    run = run_guest(guest, ["--dispatch", dispatch, *options], observer=observer)
    result = run.result.as_dict()
    for host_dependent in ("wall_seconds", "options"):
        result.pop(host_dependent, None)
    return {"result": result, "accesses": accesses}


@pytest.mark.parametrize("guest", sorted(BUNDLED.glob("*.asm")), ids=lambda path: path.name)
def test_the_reference_path_matches_the_fast_paths_under_the_virtual_clock(guest):
    fast = outcome(guest, "python")
    options: tuple[str, ...] = ("--timeout", "900") if FULL else ()  # in full, 10^7 instructions take a minute or so
    if fast["result"]["instructions"] > LONG_GUEST_INSTRUCTIONS and not FULL:
        options = ("--max-instructions", str(PREFIX_INSTRUCTIONS))
        fast = outcome(guest, "python", *options)
        assert fast["result"]["verdict"] == "timeout"
    for compiled in FAST_PATHS[:-1]:
        assert outcome(guest, compiled, *options) == fast
    reference = outcome(guest, "reference", *options)
    assert reference["result"] == fast["result"]
    assert reference["accesses"] == fast["accesses"]


@pytest.mark.parametrize("guest", HOST_CLOCK_GUESTS)
def test_the_reference_path_gives_the_fast_paths_verdicts_under_the_host_clock(guest):
    verdicts = {
        dispatch: run_guest(bundled(guest), ["--clock", "host", "--dispatch", dispatch]).result.verdict
        for dispatch in (*FAST_PATHS, "reference")
    }
    assert verdicts["reference"] == verdicts["python"] == verdicts[FAST_PATHS[0]]


def test_the_reference_path_counts_instructions_under_the_host_clock_too(tmp_path):
    body = """\
        mov     cx, 1000
spin:   loop    spin                    ; 1000 loops
        mov     al, 0
        out     0xF4, al
"""
    host = run_source(tmp_path, body, "--clock", "host", "--dispatch", "reference").result
    virtual = run_source(tmp_path, body).result
    assert host.verdict.value == virtual.verdict.value == "pass"
    assert host.instructions == virtual.instructions == 1 + 1000 + 2


class MiscountingDispatch(ReferenceDispatch):
    """Counts every 50,000th instruction twice: one extra nanosecond of virtual time each time."""

    def on_instruction(self, uc, address, size, user):
        super().on_instruction(uc, address, size, user)
        if self.counts.retired % 50_000 == 0:
            self.counts.retired += 1


def test_the_comparison_catches_a_reference_path_that_miscounts(monkeypatch):
    guest = bundled("monotonic.asm")
    fast = outcome(guest, "python")
    monkeypatch.setattr(reference_module, "ReferenceDispatch", MiscountingDispatch)
    broken = outcome(guest, "reference")
    assert broken["result"]["instructions"] != fast["result"]["instructions"]
    assert broken["accesses"] != fast["accesses"]


def test_a_snapshot_taken_on_the_reference_path_resumes_to_the_uninterrupted_result(tmp_path):
    from pmtimer_harness.tools.runner import resume_snapshot

    guest = bundled("overflow_irq.asm")
    whole = outcome(guest, "reference")["result"]
    snapshot = tmp_path / "here.snap"
    run_guest(guest, ["--dispatch", "reference"], snapshot_path=snapshot, save_at=1800)
    resumed_run = resume_snapshot(snapshot)
    assert resumed_run.config.dispatch == "reference"
    resumed = resumed_run.result.as_dict()
    for key in ("verdict", "exit_code", "console", "instructions", "virtual_ns", "port_reads"):
        assert resumed[key] == whole[key], key


def test_a_device_error_on_the_reference_path_is_reported_at_the_port_instruction(tmp_path):
    body = """\
        mov     dx, 0x408
        in      ax, dx                  ; a 2-byte read: bhyve refuses it
        mov     al, 0
        out     0xF4, al
"""
    dispatches = (*FAST_PATHS, "reference")
    runs = {dispatch: run_source(tmp_path, body, "--dispatch", dispatch).result for dispatch in dispatches}
    assert runs["reference"].verdict.value == "error"
    assert runs["reference"].report.instruction == "in ax, dx"
    for fast in FAST_PATHS:
        assert runs["reference"].report.reason == runs[fast].report.reason
        assert runs["reference"].instructions == runs[fast].instructions == 1  # retired before the IN
