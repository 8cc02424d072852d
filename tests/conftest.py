import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Every temporary file of the session, the harness's and its subprocesses', goes
# into one folder; anything the harness leaves there fails the session.
SESSION_TMP = Path(tempfile.mkdtemp(prefix="harness-test-tmp-"))
os.environ["TMPDIR"] = str(SESSION_TMP)  # subprocesses, and tempfile below
tempfile.tempdir = None  # re-read TMPDIR
atexit.register(shutil.rmtree, SESSION_TMP, ignore_errors=True)

# Keep the tests' assembled guests out of the user's cache, and leave nothing behind.
if "HARNESS_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="harness-test-cache-")
    os.environ["HARNESS_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

# suite, matrix and differential run in turn, in the test's process, unless a test asks for -j:
# a worker pool would cost its start-up in every call, and a worker sees none of a test's monkeypatching.
os.environ.setdefault("HARNESS_JOBS", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An assembly cache of the test's own, in its tmp_path (the environment names it)."""
    from pmtimer_harness.tools import cache

    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    monkeypatch.delenv(cache.NO_CACHE_ENV, raising=False)
    return folder


SOURCE_LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.so", "*.pyd")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The package's wheel, built once per session by pip, from a copy of the source.

    A copy, because a build writes into the tree it builds (build/, the egg-info) and the other test
    worker reads and writes that tree meanwhile; no build isolation, because the dev extra holds the
    setuptools the build needs and a build then needs no index.
    """
    source = tmp_path_factory.mktemp("source") / "pmtimer-harness"
    shutil.copytree(REPO, source, ignore=SOURCE_LEFT_OUT)
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), "."],
        cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}{built.stderr}"
    (whl,) = folder.glob("*.whl")
    return whl


@pytest.fixture(scope="session")
def installed_python(wheel, tmp_path_factory) -> Path:
    """The Python of a fresh virtual environment with the wheel installed, shared by the installed-package tests."""
    from tests.test_user_project import fresh_environment

    return fresh_environment(tmp_path_factory.mktemp("installed"), wheel)


def pytest_collection_modifyitems(items):
    """Under ``pytest -n N`` (make test), the tests of the installed wheel share one worker: each worker
    would otherwise build the wheel and its virtual environment again (``--dist loadgroup``)."""
    for item in items:
        if {"wheel", "installed_python"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("wheel"))


OURS = ("pytest-of-", "harness-test-cache-")  # pytest's tmp_path folders, the cache above


def pytest_sessionfinish(session):
    left = sorted(path.name for path in SESSION_TMP.iterdir() if not path.name.startswith(OURS))
    if left:
        print(f"\nleft behind in the temporary folder by the harness: {', '.join(left)}")
        session.exitstatus = 1
