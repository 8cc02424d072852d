"""Which peers a guest can run on, from its header.

A guest that depends on what only the harness offers (a start value near the
wrap, bhyve's access rules, the snapshot port) says so:

    ; portable: no, needs --timer-start and a 32-bit timer; QEMU's is 24 bits

and one that runs on some peers but not on another names that one:

    ; portable: not bochs, the overflow SCI never comes in Bochs 2.7

Its runs there are reported as skipped, with the reason.  Any other value
(``nope``, ``not qemuu``) is the user's mistake, refused naming the file and
line: read loosely, it would skip runs, or run what was meant to be skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from pmtimer_harness.tools import files
from pmtimer_harness.tools.assembler import MAX_SOURCE_BYTES
from pmtimer_harness.tools.guest import GuestError, is_source

PORTABLE_TAG = "; portable:"
PEERS = ("qemu", "bochs")  # the VMMs a guest boots in besides the harness
# "no" or "not PEER", then the reason after a space, comma or colon: "nope" is neither.
PORTABLE_VALUE = re.compile(r"(?:no|not\s+(?P<peer>[\w.-]+))(?:[\s,:]+(?P<reason>.*))?", re.IGNORECASE | re.DOTALL)


def portability(path: Path, peer: str = "qemu") -> str | None:
    """None if the guest runs on ``peer`` unchanged, else the reason it does not."""
    if not is_source(path):
        return "a raw binary cannot be reassembled for the peer's platform"
    try:
        text = files.read_text(path, MAX_SOURCE_BYTES, errors="replace")
    except OSError as error:
        return f"cannot read the guest: {error}"
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped.lower().startswith(PORTABLE_TAG):
            continue
        refused, reason = _declaration(stripped[len(PORTABLE_TAG) :], f"{path}:{number}")
        if refused in ("all", peer):
            return reason or ("marked not portable" if refused == "all" else f"marked not portable to {peer}")
    return None


def _declaration(value: str, where: str) -> tuple[str, str]:
    """(the peer refused, or "all"; the reason) from ``no, REASON`` or ``not PEER, REASON``."""
    match = PORTABLE_VALUE.fullmatch(value.strip())
    peer = match and (match["peer"] or "all").lower()
    if peer is None or peer not in ("all", *PEERS):
        raise GuestError(f"{where}: '; portable:' takes 'no, REASON' or 'not PEER, REASON' "
                         f"(PEER one of {', '.join(PEERS)}), not {value.strip()!r}")
    return peer, (match["reason"] or "").strip()
