"""Following a tutorial in docs/ as a reader would, in a copy of the repository.

A tutorial is Markdown whose fenced blocks are its steps, in order:

- ``nasm`` and ``python`` blocks whose first line is ``; file: NAME`` or
  ``# file: NAME`` are saved under that name, that line included;
- ``diff`` blocks are applied: each hunk's context and ``-`` lines must be
  found in the file, once, and become its context and ``+`` lines;
- ``console`` blocks are run: each ``$ python ...`` command, and every line
  shown under it must be part of a line of its output;
- ``mermaid`` blocks are diagrams: every node of the form ``file.py: Name.name``
  must name a module that exists and a class and function defined in it.

The copy holds ``harness/``, ``devices/``, ``asm/`` and ``docs/``, laid out as
the editable install (``pip install -e``) lays out the package, so a change the
tutorial makes to ``devices/`` takes effect as it does for the reader.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.guests import REPO

COPIED = ("asm", "devices", "harness", "docs")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_MARKER = re.compile(r"^(?:;|#) file: (\S+)\n")
HUNK_HEADER = re.compile(r"^@@.*$", re.MULTILINE)
DIAGRAM_NODE = re.compile(r"(\w+\.py): (\w+)\.(\w+)")


def steps(tutorial: Path) -> list[tuple[str, str]]:
    return BLOCK.findall(tutorial.read_text())


def copy_repository(folder: Path) -> None:
    for name in COPIED:
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    lay_out_the_package(folder)


def lay_out_the_package(folder: Path) -> None:
    """The copy as the editable install sees the repository: pmtimer_harness is harness/ plus devices/ and asm/."""
    package = folder / "site" / "pmtimer_harness"
    package.mkdir(parents=True)
    for entry in (folder / "harness").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in ("devices", "asm"):
        (package / name).symlink_to(folder / name)


def save_file(folder: Path, body: str) -> None:
    marker = FILE_MARKER.match(body)
    assert marker, "a file block in a tutorial starts with '; file: NAME' or '# file: NAME'"
    path = folder / marker.group(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The whole block, marker line included (a comment in NASM and Python): the line numbers a reader
    # counts in the tutorial are the ones the harness prints.
    path.write_text(body)


def apply_change(folder: Path, body: str) -> None:
    path = folder / re.search(r"^\+\+\+ b/(\S+)", body, re.MULTILINE).group(1)
    lines = body.split("\n")
    hunks_text = "\n".join(line for line in lines if not line.startswith(("---", "+++")))
    text = path.read_text()
    for hunk in HUNK_HEADER.split(hunks_text):
        hunk_lines = hunk.strip("\n").split("\n")
        if hunk_lines == [""]:
            continue
        old = "\n".join(line[1:] for line in hunk_lines if not line.startswith("+"))
        new = "\n".join(line[1:] for line in hunk_lines if not line.startswith("-"))
        assert text.count(old) == 1, f"the tutorial's change does not apply once to {path.name}:\n{old}"
        text = text.replace(old, new, 1)
    path.write_text(text)


def run_commands(folder: Path, body: str) -> None:
    for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
        command, *expected = chunk.rstrip("\n").split("\n")
        words = shlex.split(command)
        assert words[0] == "python", f"tutorial commands start with python: {command}"
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=folder, capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(folder / "site")},
        )
        output = done.stdout + done.stderr
        for line in expected:
            assert any(line.strip() in actual for actual in output.splitlines()), (
                f"$ {command}\nexpected a line containing: {line.strip()!r}\ngot:\n{output}"
            )


def check_diagram(folder: Path, body: str) -> None:
    nodes = DIAGRAM_NODE.findall(body)
    assert nodes, "a diagram names at least one module: 'file.py: Class.function'"
    for module, owner, function in nodes:
        found = [path for path in (folder / "harness").rglob(module)] + list((folder / "devices").glob(module))
        assert found, f"the diagram names {module}, which is not in the repository"
        source = found[0].read_text()
        assert re.search(rf"^(class|def) {owner}\b", source, re.MULTILINE), f"{module} has no {owner}"
        assert re.search(rf"^\s+def {function}\(", source, re.MULTILINE), f"{module} has no {owner}.{function}"


def follow(tutorial: Path, folder: Path) -> None:
    """Every step of ``tutorial``, in order, in ``folder`` (a copy made by ``copy_repository``)."""
    rules = {"nasm": save_file, "python": save_file, "diff": apply_change, "console": run_commands,
             "mermaid": check_diagram}
    for kind, body in steps(tutorial):
        assert kind in rules, f"{tutorial.name} has a {kind} block, and no rule here says what to do with it"
        rules[kind](folder, body)


def changed_files(folder: Path) -> set[str]:
    """Files under harness/, devices/ and asm/ that differ from the repository's, or are new."""
    changed = set()
    for name in ("harness", "devices", "asm"):
        for path in (folder / name).rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(folder).as_posix()
            original = REPO / relative
            if not original.exists() or original.read_bytes() != path.read_bytes():
                changed.add(relative)
    return changed
