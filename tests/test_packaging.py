"""`pip install .` carries the bundled guests, their includes, the QEMU loader, the plugin and the licence."""

import zipfile


def test_the_wheel_holds_the_guests_and_the_console_script(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "pmtimer_harness/asm/monotonic.asm",
        "pmtimer_harness/asm/include/report.inc",
        "pmtimer_harness/peers/qemu_loader.asm",
        "pmtimer_harness/devices/pm_timer.py",
    ):
        assert expected in names
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"pmtimer_harness"}
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    points = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "pmtimer-harness = pmtimer_harness.frontends.cli:entry_point" in points
    assert "[pytest11]\npmtimer_harness = pmtimer_harness.frontends.pytest_plugin" in points


def test_the_wheel_carries_the_licence(wheel):
    archive = zipfile.ZipFile(wheel)
    metadata = archive.read(next(name for name in archive.namelist() if name.endswith("METADATA"))).decode()
    assert "License-Expression: BSD-2-Clause" in metadata
    assert any(name.endswith("licenses/LICENSE") for name in archive.namelist())
