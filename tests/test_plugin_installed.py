"""The installed plugin beside a project that never asked for it, then beside one that does.

A firmware project has an ``asm/boot.asm`` and an ``asm/macros.asm`` of its
own and a Python test; the wheel is installed in a fresh virtual environment
as ``tests/test_user_project.py`` installs it.  Plain ``pytest`` there runs the
project's test and nothing of the harness; once the project names its boot
file in ``harness_guests``, that file is a guest item too.
"""

import os
import subprocess
from pathlib import Path

from tests.guests import PRELUDE

BOOT = PRELUDE + """
        mov     al, 0
        out     0xF4, al
"""


def firmware_project(root: Path) -> Path:
    project = root / "firmware"
    (project / "asm").mkdir(parents=True)
    (project / "asm" / "boot.asm").write_text(BOOT)
    (project / "asm" / "macros.asm").write_text("%macro nothing 0\n%endmacro\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_build.py").write_text("def test_build():\n    pass\n")
    return project


def test_an_installed_plugin_collects_nothing_until_the_project_names_its_guests(tmp_path, installed_python):
    python = installed_python
    project = firmware_project(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, *command], cwd=project, env=env, capture_output=True, text=True, timeout=120)

    # The installed copy runs, not the repository's.
    where = run("-c", "import pmtimer_harness.frontends.pytest_plugin as plugin; print(plugin.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(python.parents[1]), where.stdout + where.stderr

    # Hypothesis's plugin is visible through the .pth line but is not the user's: left out (it costs seconds).
    plain = run("-m", "pytest", "-v", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "tests/test_build.py::test_build PASSED" in plain.stdout and "1 passed" in plain.stdout
    assert ".asm" not in plain.stdout and "pmtimer-harness" in plain.stdout  # loaded, and silent

    (project / "pytest.ini").write_text("[pytest]\nharness_guests =\n    asm/boot.asm\n")
    opted = run("-m", "pytest", "-v", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    assert "asm/boot.asm::boot PASSED" in opted.stdout and "2 passed" in opted.stdout, opted.stdout + opted.stderr
    assert "macros" not in opted.stdout
