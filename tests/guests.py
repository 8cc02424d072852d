"""Helpers for tests that write a small guest of their own."""

from __future__ import annotations

from pathlib import Path

from pmtimer_harness.tools.runner import GuestRun, run_guest

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "asm"

PRELUDE = """\
        bits 16
        org LOAD_ADDRESS
"""


def write_guest(folder: Path, body: str, header: str = "", name: str = "guest.asm") -> Path:
    path = folder / name
    path.write_text(header + PRELUDE + body)
    return path


def run_source(folder: Path, body: str, *options: str, header: str = "", **kwargs) -> GuestRun:
    return run_guest(write_guest(folder, body, header), list(options), **kwargs)


def bundled(name: str) -> Path:
    return BUNDLED / name
