"""Snapshot files: read with their size checked (``files.py``), written by the output rules (``output.py``).

What a snapshot holds is ``core/snapshot.py``'s; this module only moves its
bytes between the machine and the file system.
"""

from __future__ import annotations

from pathlib import Path

from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.snapshot import MAX_SNAPSHOT_BYTES, take
from pmtimer_harness.core.snapshot_format import SnapshotError
from pmtimer_harness.tools import files
from pmtimer_harness.tools.output import write_output


def write_snapshot_file(machine: Machine, path: Path) -> Path:
    """Write the machine's snapshot to ``path`` (``output.py``'s rules); the file written."""
    return write_output(path, take(machine))


def read_snapshot_file(path: str | Path) -> bytes:
    """A snapshot file's bytes: a regular file, its size checked before it is read.  Raises SnapshotError."""
    try:
        return files.read_bytes(path, MAX_SNAPSHOT_BYTES)
    except files.FileTooLarge as error:
        raise SnapshotError(f"{files.shown_name(path)}: {error.size:,} bytes is more than any snapshot this harness "
                            f"writes (at most {MAX_SNAPSHOT_BYTES >> 20} MiB)") from None
    except OSError as error:
        raise SnapshotError(str(error)) from None
