"""The README's examples run as written: its Python blocks, and its shell lines that run the harness."""

import os
import re
import shlex
import shutil
import subprocess
import sys

from tests.guests import REPO

README = REPO / "README.md"
PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    blocks = []
    for indent, body in PYTHON_BLOCK.findall(README.read_text()):
        blocks.append("\n".join(line[len(indent):] for line in body.splitlines()))
    return blocks


def test_every_python_example_in_the_readme_runs(monkeypatch):
    blocks = python_blocks()
    assert len(blocks) >= 2
    monkeypatch.chdir(REPO)  # the examples name the bundled guests as asm/...
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})


SHELL_BLOCK = re.compile(r"^ *```sh\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
HARNESS_LINE = re.compile(r"^(?:\.venv/bin/)?python -m pmtimer_harness (.*?)(?:\s+#.*)?$")
# Every guest on every platform: the platforms tests run the matrix; here it would cost the suite half a minute.
NOT_RUN_HERE = ("matrix",)


def harness_lines() -> list[list[str]]:
    lines = []
    for block in SHELL_BLOCK.findall(README.read_text()):
        for line in block.splitlines():
            match = HARNESS_LINE.match(line.strip())
            if match and shlex.split(match.group(1))[0] not in NOT_RUN_HERE:
                lines.append(shlex.split(match.group(1)))
    return lines


def file_making_lines() -> list[str]:
    """The README's printf lines: the files its harness commands are then given."""
    return [line.strip() for block in SHELL_BLOCK.findall(README.read_text()) for line in block.splitlines()
            if line.strip().startswith("printf ")]


def test_every_harness_command_in_the_readme_runs(tmp_path):
    shutil.copytree(REPO / "asm", tmp_path / "asm", ignore=shutil.ignore_patterns("__pycache__"))
    for line in file_making_lines():
        subprocess.run(["sh", "-c", line], cwd=tmp_path, check=True, timeout=10)
    commands = harness_lines()
    assert len(commands) >= 5
    for arguments in commands:
        done = subprocess.run(
            [sys.executable, "-m", "pmtimer_harness", *arguments], cwd=tmp_path, capture_output=True, text=True,
            timeout=120, env={**os.environ, "PYTHONPATH": ""},
        )
        assert done.returncode in (0, 1), f"{arguments}: status {done.returncode}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr


SAMPLE_FLAGS = re.MULTILINE | re.DOTALL


def test_the_sample_report_is_what_the_harness_prints(capsys, monkeypatch):
    from pmtimer_harness.frontends.cli import main

    sample = re.search(r"^```\n(access_bhyve_narrow\.asm: error\n.*?)^```", README.read_text(), SAMPLE_FLAGS)
    monkeypatch.chdir(REPO)
    main(["run", "asm/access_bhyve_narrow.asm"])
    printed = capsys.readouterr().out.splitlines()
    compared = ("access_", "  access:", "  at:", "  source:")  # the reason wraps, the registers are cut short
    shown = [line for line in sample.group(1).splitlines() if line.startswith(compared)]
    assert len(shown) == 4
    for line in shown:
        assert line in printed
