"""Every file the harness reads (guests, NASM's output, snapshots, cache entries) goes through here.

The rules, the same for every input:

- only a regular file is read: a device (``/dev/zero`` never ends, and its
  size on paper is 0, so a cap on the size means nothing), a FIFO, a socket
  or a directory is refused with one line naming the path and what it is;
- the name is looked at first, so a device is never opened, and then the
  open descriptor, so a file swapped in between is caught too; the open does
  not wait (``O_NONBLOCK``): a FIFO with no writer cannot hold the harness up;
- every read has a bound the caller gives (the snapshot cap, the room in guest
  RAM...): a larger file is refused from its size before a byte is read, and a
  file that grows while it is read is refused at the first byte past the bound;
- a message names a file as ``shown_name`` does: bytes that are not UTF-8 as
  ``\\xNN``, control characters (a newline) escaped, so it stays one line.

``InputError`` is an ``OSError``, so callers that treat trouble with files as
the user's (one line, the usage status) handle it already.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from pmtimer_harness.tools.output import KINDS

try:
    # SHA-256 as CPython builds it in, the module hashlib itself falls back to without OpenSSL:
    # hashlib loads OpenSSL first, about 11 million instructions, a tenth of a run's start-up
    # (docs/limits.md, "Start-up").  The digests are the same bytes either way.
    from _sha2 import sha256 as new_sha256  # CPython 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256 as new_sha256  # CPython 3.10 and 3.11
    except ImportError:
        from hashlib import sha256 as new_sha256  # another Python

DIGEST_CHUNK = 1 << 20
OPEN_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class InputError(OSError):
    """A file that cannot or must not be read; the message is one line and names the path."""


class FileTooLarge(InputError):
    """A regular file past the bound its reader gave; refused before it was read (or at the bound)."""

    def __init__(self, path: str | os.PathLike[str], size: int, limit: int, grew: bool = False) -> None:
        if grew:
            super().__init__(f"{shown_name(path)}: grew past the cap of {limit:,} bytes while it was read")
        else:
            super().__init__(f"{shown_name(path)}: {size:,} bytes, over the cap of {limit:,} bytes")
        self.size = size  # at least: a file that grew was not read to its end
        self.limit = limit


def shown_name(path: str | os.PathLike[str] | bytes) -> str:
    """``path`` as one line of text: bytes that are not UTF-8 as ``\\xNN``, control characters escaped."""
    name = os.fsdecode(path)
    try:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(character if character.isprintable() else _escaped(character) for character in text)


def _escaped(character: str) -> str:
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def kind(mode: int) -> str:
    return next((name for test, name in KINDS.items() if test(mode)), "not a regular file")


def _refuse_unless_regular(path: str | os.PathLike[str], mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise InputError(f"{shown_name(path)} is {kind(mode)}, not a regular file")


def regular_size(path: str | os.PathLike[str]) -> int:
    """The size of the regular file at ``path``, which is not opened; refuses anything else."""
    try:
        status = os.stat(path)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the name
        raise InputError(f"{shown_name(path)}: {error.strerror or error}") from None
    _refuse_unless_regular(path, status.st_mode)
    return status.st_size


@contextlib.contextmanager
def open_regular(path: str | os.PathLike[str], limit: int) -> Iterator[BinaryIO]:
    """The regular file at ``path``, open for reading, its size checked against ``limit``."""
    regular_size(path)  # a device is never opened: opening one can have effects of its own
    try:
        descriptor = os.open(path, OPEN_FLAGS)
    except (OSError, ValueError) as error:
        raise InputError(f"{shown_name(path)}: {error.strerror or error}") from None
    with os.fdopen(descriptor, "rb", buffering=0) as file:
        status = os.fstat(descriptor)
        _refuse_unless_regular(path, status.st_mode)  # swapped for something else since it was looked at
        if status.st_size > limit:
            raise FileTooLarge(path, status.st_size, limit)
        yield file  # type: ignore[misc]


def read_bytes(path: str | os.PathLike[str], limit: int) -> bytes:
    """The whole regular file at ``path``, at most ``limit`` bytes.  Raises InputError."""
    with open_regular(path, limit) as file:
        try:
            size = os.fstat(file.fileno()).st_size
            parts = [file.read(size)] if size else []  # one allocation of the size the file has
            got = sum(map(len, parts))
            while part := file.read(min(DIGEST_CHUNK, limit + 1 - got)):  # it may have grown since
                parts.append(part)
                got += len(part)
                if got > limit:
                    raise FileTooLarge(path, got, limit, grew=True)
        except InputError:
            raise
        except OSError as error:
            raise InputError(f"{shown_name(path)}: {error.strerror or error}") from None
    return parts[0] if len(parts) == 1 else b"".join(parts)


def read_text(path: str | os.PathLike[str], limit: int, errors: str = "strict") -> str:
    """The regular file at ``path`` as UTF-8 text, at most ``limit`` bytes; ``errors`` as for ``bytes.decode``."""
    return read_bytes(path, limit).decode("utf-8", errors)


def sha256(path: str | os.PathLike[str], limit: int) -> str:
    """The SHA-256 of the regular file at ``path``, read a MiB at a time, at most ``limit`` bytes."""
    digest = new_sha256()
    got = 0
    with open_regular(path, limit) as file:
        try:
            while part := file.read(DIGEST_CHUNK):
                got += len(part)
                if got > limit:
                    raise FileTooLarge(path, got, limit, grew=True)
                digest.update(part)
        except InputError:
            raise
        except OSError as error:
            raise InputError(f"{shown_name(path)}: {error.strerror or error}") from None
    return digest.hexdigest()
