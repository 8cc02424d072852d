"""Snapshots on every platform: the run resumes where it was, except where the platform loses time.

bhyve (vpmtmr_snapshot saves only baseval, always 0) and cloud-hypervisor (the
timer device is not migrated) restart the count near 0 after a restore: a guest
resumed there sees its timer go back, as their guests do.
"""

import json

import pytest
from pmtimer_harness.core.board import Board
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.platform.profiles import PROFILES, Restore
from pmtimer_harness.tools.runner import resume_snapshot, run_guest

from tests.guests import bundled

CONTINUING = sorted(name for name, profile in PROFILES.items() if profile.restore is Restore.CONTINUES)
WITH_A_TIMER = sorted(name for name, profile in PROFILES.items() if profile.has_timer)
SPLIT_FIELDS = ("verdict", "exit_code", "console", "instructions", "virtual_ns", "port_reads", "port_writes")
# linux_pmtmr.asm reads the timer about 3,000 times, all after its 10 ms span: this is half-way through them.
AMONG_THE_READS = 10_019_000


@pytest.mark.parametrize("platform", sorted(PROFILES))
def test_a_restored_run_ends_as_the_uninterrupted_one_or_sees_the_restart(platform, tmp_path):
    snapshot = tmp_path / f"{platform}.snap"
    options = ["--platform", platform, "--timer-start", "0x800000"]  # far from 0, so that a restart shows
    whole = run_guest(bundled("snapshot_here.asm"), options, snapshot_path=snapshot).result
    resumed = resume_snapshot(snapshot).result
    assert resumed.warnings == whole.warnings or not resumed.warnings
    if PROFILES[platform].restore is Restore.RESTARTS:
        assert resumed.verdict == "fail"
        assert "FAIL: the timer does not go back across the snapshot" in resumed.console
    else:
        assert (resumed.verdict, resumed.console, resumed.virtual_ns) == (whole.verdict, whole.console,
                                                                          whole.virtual_ns)


def test_the_restart_quirk_alone_makes_any_platform_lose_its_count(tmp_path):
    snapshot = tmp_path / "quirk.snap"
    options = ["--platform", "xen", "--quirk", "restarts-after-restore", "--timer-start", "0x800000"]
    assert run_guest(bundled("snapshot_here.asm"), options, snapshot_path=snapshot).result.verdict == "pass"
    resumed = resume_snapshot(snapshot).result
    assert "FAIL: the timer does not go back across the snapshot" in resumed.console


def test_a_snapshot_restored_on_bhyve_sees_what_bhyve_guests_see(tmp_path):
    snapshot = tmp_path / "acpi.snap"
    options = ["--timer-start", "0x800000"]
    assert run_guest(bundled("snapshot_here.asm"), options, snapshot_path=snapshot).result.verdict == "pass"
    on_bhyve = resume_snapshot(snapshot, platform="bhyve").result
    assert "FAIL: the timer does not go back across the snapshot" in on_bhyve.console
    assert any("restored on platform bhyve, saved on acpi" in warning for warning in on_bhyve.warnings)
    assert resume_snapshot(snapshot).result.verdict == "pass"


@pytest.mark.parametrize("platform", sorted(set(CONTINUING) & set(WITH_A_TIMER)))  # a timer to keep state
def test_a_split_run_of_a_guest_that_reads_the_timer_often_equals_the_whole_run(platform, tmp_path):
    """Whatever a platform's timer keeps between reads (the read count of an unlatched one) goes into the snapshot.

    bhyve and cloud-hypervisor restart the count on restore (above); their
    timers' other state is checked at the device, below.
    """
    guest, options = bundled("linux_pmtmr.asm"), ["--platform", platform]
    whole_trace, resumed_trace = [], []
    whole = run_guest(guest, options, trace=whole_trace.append).result
    snapshot = tmp_path / "split.snap"
    save_at = min(AMONG_THE_READS, whole.instructions // 2)
    run_guest(guest, options, snapshot_path=snapshot, save_at=save_at)
    resumed = resume_snapshot(snapshot, trace=resumed_trace.append).result
    assert [getattr(resumed, name) for name in SPLIT_FIELDS] == [getattr(whole, name) for name in SPLIT_FIELDS]
    tail = [line.split("  at ")[0] for line in resumed_trace]  # a resumed machine has no listing
    assert [line.split("  at ")[0] for line in whole_trace][-len(tail):] == tail


@pytest.mark.parametrize("platform", WITH_A_TIMER)
def test_a_restored_timer_reads_what_the_saved_one_would_have(platform):
    """Every timer model's saved state, through JSON, on a new board: the next reads are the same."""
    saved, restored = Board(MachineConfig(platform=platform)).timer, Board(MachineConfig(platform=platform)).timer
    restored.restarts_on_restore = False  # the platform's restart is tested above; the rest must carry over
    widths = [1, 2, 4] if 2 in saved.windows[0].read_widths else [4]
    now_ns = 0
    for step in range(300):
        now_ns += 977
        saved.read(saved.port, widths[step % len(widths)], now_ns)
    restored.restore(json.loads(json.dumps(saved.state(now_ns))), now_ns)
    for step in range(300):
        now_ns += 977
        width = widths[step % len(widths)]
        assert restored.read(restored.port, width, now_ns) == saved.read(saved.port, width, now_ns), step


@pytest.mark.parametrize("reads", [-1, 2**64, "many", True])
def test_a_read_count_that_is_not_a_count_is_refused(reads):
    timer = Board(MachineConfig(platform="piix4")).timer
    with pytest.raises(ValueError, match="read count"):
        timer.restore({"counter": 5, "last": 5, "reads": reads}, 1000)
