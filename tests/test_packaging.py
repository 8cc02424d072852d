"""`pip install .` carries the bundled guests, their includes and the QEMU loader."""

import subprocess
import sys
import zipfile

from tests.guests import REPO


def test_the_wheel_holds_the_guests_and_the_console_script(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=REPO, check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
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
    assert "pmtimer-harness = pmtimer_harness.frontends.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
