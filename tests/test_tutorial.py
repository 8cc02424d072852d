"""Runs docs/tutorial.md: every file it saves, every change it makes, every command it shows.

The tutorial is followed in a copy of the repository (so its deliberate
breakage of the timer model stays there).  Each command's output must contain
every line the tutorial shows under it.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.guests import REPO

TUTORIAL = REPO / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_MARKER = re.compile(r"^; file: (\S+)\n")


def steps():
    return [(kind, body) for kind, body in BLOCK.findall(TUTORIAL.read_text())]


def save_file(folder: Path, body: str) -> None:
    marker = FILE_MARKER.match(body)
    assert marker, "a nasm block in the tutorial starts with '; file: NAME'"
    # The whole block, marker line included (a comment to NASM): the line numbers a reader counts in the
    # tutorial are the ones the harness prints.
    (folder / marker.group(1)).write_text(body)


def apply_change(folder: Path, body: str) -> None:
    path = folder / re.search(r"^\+\+\+ b/(\S+)", body, re.MULTILINE).group(1)
    removed = [line[1:] for line in body.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in body.splitlines() if line.startswith("+") and not line.startswith("+++")]
    text = path.read_text()
    for old, new in zip(removed, added, strict=True):
        assert old in text, f"the tutorial's change does not apply to {path.name}: {old!r}"
        text = text.replace(old, new, 1)
    path.write_text(text)


def run_commands(folder: Path, body: str) -> None:
    commands = re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]
    for chunk in commands:
        command, *expected = chunk.rstrip("\n").split("\n")
        words = shlex.split(command)
        assert words[0] == "python", f"tutorial commands start with python: {command}"
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=folder, capture_output=True, text=True, timeout=300,
            env={**os.environ, "PYTHONPATH": str(folder / "site")},
        )
        output = done.stdout + done.stderr
        for line in expected:
            assert any(line.strip() in actual for actual in output.splitlines()), (
                f"$ {command}\nexpected a line containing: {line.strip()!r}\ngot:\n{output}"
            )


def lay_out_the_package(folder: Path) -> None:
    """The copy as the editable install sees the repository: pmtimer_harness is harness/ plus devices/ and asm/."""
    package = folder / "site" / "pmtimer_harness"
    package.mkdir(parents=True)
    for entry in (folder / "harness").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in ("devices", "asm"):
        (package / name).symlink_to(folder / name)


def test_the_tutorial_runs_as_written(tmp_path):
    for name in ("asm", "devices", "harness"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    lay_out_the_package(tmp_path)
    kinds = [kind for kind, _ in steps()]
    assert kinds.count("console") >= 5 and "diff" in kinds
    for kind, body in steps():
        if kind == "nasm":
            save_file(tmp_path, body)
        elif kind == "diff":
            apply_change(tmp_path, body)
        elif kind == "console":
            run_commands(tmp_path, body)
        else:  # pragma: no cover - a new kind of block needs a rule here
            pytest.fail(f"the tutorial has a {kind} block this test does not know")
