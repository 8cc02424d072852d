"""Which peers a guest can run on, from its header.

A guest that depends on what only the harness offers (a start value near the
wrap, bhyve's access rules, the snapshot port) says so:

    ; portable: no, needs --timer-start and a 32-bit timer; QEMU's is 24 bits

and one that runs on some peers but not on another names that one:

    ; portable: not bochs, the overflow SCI never comes in Bochs 2.7

Its runs there are reported as skipped, with the reason.  Any other value
(``nope``, ``not qemuu``) is the user's mistake, refused naming the file and
line (``tools/guest.py`` reads the value, for every front end): read loosely,
it would skip runs, or run what was meant to be skipped.
"""

from __future__ import annotations

from pathlib import Path

from pmtimer_harness.tools import files
from pmtimer_harness.tools.assembler import MAX_SOURCE_BYTES
from pmtimer_harness.tools.guest import PORTABLE_TAG, as_nasm_comment, is_c_source, is_source, portable_declaration


def portability(path: Path, peer: str = "qemu") -> str | None:
    """None if the guest runs on ``peer`` unchanged, else the reason it does not."""
    if not is_source(path):
        return "a raw binary cannot be reassembled for the peer's platform"
    try:
        text = files.read_text(path, MAX_SOURCE_BYTES, errors="replace")
    except OSError as error:
        return f"cannot read the guest: {error}"
    for number, line in enumerate(text.splitlines(), 1):
        stripped = as_nasm_comment(line) if is_c_source(path) else line.strip()  # "// portable:" in C
        if not stripped.lower().startswith(PORTABLE_TAG):
            continue
        refused, reason = portable_declaration(stripped[len(PORTABLE_TAG) :], f"{path}:{number}")
        if refused in ("all", peer):
            return reason or ("marked not portable" if refused == "all" else f"marked not portable to {peer}")
    return None
