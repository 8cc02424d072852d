"""Every file the harness writes (snapshots, plots, cache entries) goes through here.

The rules, the same for every output:

- a symbolic link is followed: its target is the file written, and the link stays;
- anything that exists and is not a regular file (a directory, a FIFO, a
  device node such as ``/dev/null``, a socket) is refused with a one-line
  error, never replaced: ``os.replace`` would swap a regular file in for it;
- a regular file is replaced atomically: the data goes to a temporary file in
  the same folder, is flushed to disk, then renamed over the target, so a
  reader sees the old file or the new one, never half of one; a replaced file
  keeps its permission bits;
- on any failure the temporary file is removed: nothing is left behind;
- the errors name the path the user gave, and ``write_output`` returns the
  file actually written;
- an output that is one of the run's inputs (the guest's source, an include:
  the same file by device and inode, through any link) is refused before the
  run, by ``refuse_inputs``.

``OutputError`` is an ``OSError``, so callers that treat trouble with files as
the user's (one line, the usage status) handle it already.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


class OutputError(OSError):
    """An output that cannot or must not be written; the message is one line and names the path."""


def output_target(path: str | os.PathLike[str]) -> Path:
    """The file an output to ``path`` writes: a link's final target.  Refuses what is not a regular file."""
    named = Path(path)
    if str(named) == "":
        raise OutputError("an output needs a file name")
    target = Path(os.path.realpath(named))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except OSError as error:
        raise OutputError(f"{named}: {error.strerror or error}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in KINDS.items() if test(mode)), "not a regular file")
        via = f" (through a link to {target})" if target != named.absolute() else ""
        raise OutputError(f"{named}: is {kind}{via}; an output must be a regular file, refusing to replace it")
    return target


def refuse_inputs(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse an output ``path`` that is the same file as one of ``inputs``."""
    named = Path(path)
    for source in inputs:
        try:
            same = os.path.samefile(named, source)
        except OSError:
            continue  # one of the two does not exist: they cannot be one file
        if same:
            raise OutputError(f"{named}: is {source}, which this run reads; an output must not replace an input")


@contextlib.contextmanager
def open_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A seekable binary file whose contents replace ``path`` when the block ends without an exception."""
    named = Path(path)
    target = output_target(named)
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise OutputError(f"{named}: cannot write in {target.parent}: {error.strerror or error}") from None
    try:
        os.chmod(temporary, _mode_for(target))  # mkstemp makes it private; an output is an ordinary file
        with os.fdopen(descriptor, "w+b") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError) and not isinstance(error, OutputError):
            raise OutputError(f"{named}: cannot write: {error.strerror or error}") from None
        raise


def write_output(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` by the rules above; the file written (a link's target)."""
    with open_output(path) as file:
        file.write(data)
    return output_target(path)


def shown(path: str | os.PathLike[str]) -> str:
    """``path`` for a message about what was written: as given, with the link's target when it is one."""
    named = Path(path)
    target = Path(os.path.realpath(named))
    return str(named) if target == named.absolute() else f"{named} (link to {target})"


def _mode_for(target: Path) -> int:
    """The permission bits the new file gets: the replaced file's, or the usual ones for a new file."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
