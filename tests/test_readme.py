"""The README's Python examples run as written, in order, from the repository's folder."""

import re

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
