"""`pip install .` carries the bundled guests, their includes, the QEMU loader, the plugin and the licence."""

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pmtimer_harness
import pytest

REPO = Path(__file__).resolve().parent.parent


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


def wheel_metadata(wheel) -> list[str]:
    archive = zipfile.ZipFile(wheel)
    return archive.read(next(name for name in archive.namelist() if name.endswith("METADATA"))).decode().splitlines()


def metadata_values(wheel, field: str) -> list[str]:
    return [line.removeprefix(f"{field}: ") for line in wheel_metadata(wheel) if line.startswith(f"{field}: ")]


def test_the_wheel_says_it_is_typed_and_ships_the_marker(wheel):
    assert "pmtimer_harness/py.typed" in zipfile.ZipFile(wheel).namelist()
    assert "Classifier: Typing :: Typed" in wheel_metadata(wheel)


def test_the_classifiers_name_the_plugin_the_systems_and_every_python_that_requires_python_allows(wheel):
    classifiers = set(metadata_values(wheel, "Classifier"))
    assert {
        "Framework :: Pytest",
        "Operating System :: POSIX :: Linux",
        "Operating System :: MacOS",
        "Operating System :: Microsoft :: Windows",
    } <= classifiers
    assert metadata_values(wheel, "Requires-Python") == [">=3.10"]
    versions = [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
    pythons = sorted(int(c.rsplit(".", 1)[1]) for c in versions)
    assert pythons[0] == 10
    assert pythons == list(range(10, pythons[-1] + 1))


def test_a_user_s_test_extra_is_pytest_alone_and_the_linters_are_in_dev(wheel):
    requirements = metadata_values(wheel, "Requires-Dist")
    test = [r.split(";")[0].strip() for r in requirements if "extra == \"test\"" in r]
    dev = [r.split(";")[0].strip() for r in requirements if "extra == \"dev\"" in r]
    assert [re.split("[<>=!~ ]", name)[0] for name in test] == ["pytest"]
    assert "pmtimer-harness[c,plot,test]" in dev  # make test shows C guests built by pip's clang too
    assert {"ruff==0.17.6", "vulture==2.16"} <= set(dev)
    assert any(name.startswith("hypothesis") for name in dev)


def test_the_wheel_s_version_is_the_package_s_own(wheel):
    assert f"Version: {pmtimer_harness.__version__}" in wheel_metadata(wheel)


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("sh") is None, reason="needs make and a POSIX shell")
def test_make_test_names_what_apt_get_installs_and_keeps_a_failing_run_s_output(tmp_path):
    # An apt-get that refuses, and no nasm, qemu or bochs on PATH: make says what it tried in one line.
    (tmp_path / "apt-get").write_text("#!/bin/sh\necho 'E: no network here'\nexit 100\n")
    (tmp_path / "apt-get").chmod(0o755)
    for tool in ("sh", "mktemp", "sed", "id", "sudo"):
        if found := shutil.which(tool):
            (tmp_path / tool).symlink_to(found)
    environment = {"PATH": str(tmp_path), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [shutil.which("make"), "--no-print-directory", "-s", "test-tools"],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=30,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "installing nasm, qemu, bochs with apt-get ..."
    (log,) = tmp_path.glob("pmtimer-harness-apt-get.*")
    assert lines[1] == f"apt-get failed; its output is in {log}"
    assert "E: no network here" in log.read_text()
    assert lines[2].startswith("NASM is required")
    assert done.returncode != 0
