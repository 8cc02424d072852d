"""Snapshots on every platform: the run resumes where it was, except where the platform loses time.

bhyve (vpmtmr_snapshot saves only baseval, always 0) and cloud-hypervisor (the
timer device is not migrated) restart the count near 0 after a restore: a guest
resumed there sees its timer go back, as their guests do.
"""

import pytest
from pmtimer_harness.platform.profiles import PROFILES, Restore
from pmtimer_harness.tools.runner import resume_snapshot, run_guest

from tests.guests import bundled


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
