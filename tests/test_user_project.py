"""The package as another project meets it: pip install the wheel, then plain pytest, suite and the API.

The user's project has its own ``devices``, ``harness`` and ``asm`` packages
(natural names in emulation work) and a folder of guests: one passing, one
failing, one including a file from a sibling folder, which its ``pytest.ini``
names as guests.  No conftest, no ``-p``.
Then the sibling include changes and the verdict must change with it.

The fresh virtual environment gets the wheel from pip; its dependencies
(unicorn, capstone, tqdm, platformdirs, pytest) come from this environment's site-packages
through a ``.pth`` line, so the test needs no network and no second download.
"""

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.guests import PRELUDE

EXIT_WITH = PRELUDE + """
        mov     al, {code}
        out     0xF4, al
"""

USER_TEST = '''
import asm
import devices
import harness


def test_the_project_s_own_packages_still_import():
    assert devices.OWN == harness.OWN == asm.OWN == "mine"
'''

API_SCRIPT = '''
import json, sys
from pmtimer_harness import MachineConfig, PortWindow, run_guest

class Answer:
    name = "answer"
    windows = (PortWindow(0x300, 1),)
    def read(self, port, width, now_ns): return 0x42
    def write(self, port, width, value, now_ns): pass
    def state(self): return {}

by_path = run_guest("guests/uses_common.asm", MachineConfig(platform="qemu"))
image = bytes([0xBA, 0x00, 0x03, 0xEC, 0xE6, 0xF4])  # mov dx, 0x300; in al, dx; out 0xF4, al
by_bytes = run_guest(image, devices=[Answer()])
print(json.dumps([by_path.result.verdict.value, by_bytes.result.exit_code]))
'''


def fresh_environment(root: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed by pip; the rest of its dependencies seen through a .pth line."""
    home = root / "venv"
    venv.create(home, with_pip=False)
    python = home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True, capture_output=True, timeout=120,
    )
    return python


def user_project(root: Path) -> Path:
    project = root / "project"
    for package in ("devices", "harness", "asm"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text('OWN = "mine"\n')
    (project / "common").mkdir()
    (project / "common" / "cfg.inc").write_text("%define EXIT_CODE 0\n")
    guests = project / "guests"
    guests.mkdir()
    (guests / "passes.asm").write_text(EXIT_WITH.format(code=0))
    (guests / "fails.asm").write_text(EXIT_WITH.format(code=7))
    (guests / "uses_common.asm").write_text('%include "../common/cfg.inc"\n' + EXIT_WITH.format(code="EXIT_CODE"))
    (project / "pytest.ini").write_text("[pytest]\nharness_guests =\n    guests/*.asm\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_own.py").write_text(USER_TEST)
    return project


def test_a_project_of_its_own_installs_the_wheel_and_runs_its_guests(tmp_path, installed_python):
    python = installed_python
    project = user_project(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")

    def run(*command):
        return subprocess.run([python, *command], cwd=project, env=env, capture_output=True, text=True, timeout=120)

    # Plain pytest: the plugin comes from the entry point.  Hypothesis's plugin is visible through the .pth
    # line but is not the user's: leave it out (it costs seconds).
    tested = run("-m", "pytest", "-q", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    assert "1 failed, 3 passed" in tested.stdout, tested.stdout + tested.stderr
    assert "guest fails.asm: expected pass, got fail (exit code 7)" in tested.stdout

    suite = run("-m", "pmtimer_harness", "suite", "guests", "--json")
    assert suite.returncode == 1, suite.stderr
    verdicts = {Path(item["guest"]).name: item["verdict"] for item in json.loads(suite.stdout)}
    assert verdicts == {"fails.asm": "fail", "passes.asm": "pass", "uses_common.asm": "pass"}

    api = run("-c", API_SCRIPT)
    assert json.loads(api.stdout) == ["pass", 0x42], api.stderr

    (project / "common" / "cfg.inc").write_text("%define EXIT_CODE 5\n")
    again = run("-m", "pmtimer_harness", "suite", "guests/uses_common.asm", "--tap")
    assert again.stdout.splitlines()[2].startswith("not ok 1 - "), again.stdout + again.stderr
    assert "  exit_code: 5" in again.stdout


@pytest.fixture(autouse=True)
def _no_stray_pip_config(monkeypatch):
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
