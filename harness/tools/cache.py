"""The assembly cache: NASM's output for a guest, kept until anything NASM read changes.

C guests' ELF files are kept here too (``c_compiler.py``), the same way: the
"version" in their key is the compiler's command and ``--version`` line, every
flag and the linker script; the files listed are every file any compile read
(the ``-MD`` output: the guest, its headers, the library's sources and
headers).

An entry is one file, ``<key>.entry``, in the cache folder (``HARNESS_CACHE_DIR``,
else the user cache folder as platformdirs finds it: ``$XDG_CACHE_HOME`` on
Linux and macOS when it is an absolute path, else ``~/.cache`` on Linux and
``~/Library/Caches`` on macOS; the Local AppData folder on Windows; then
``pmtimer-harness/nasm``).  The key covers NASM's
version, the source's path and bytes, the include folders and the defines; the
entry lists every file NASM read (its dependency output) with a digest of its
content, and is used only while all of them still match.  So a guest that
includes ``../common/cfg.inc`` rebuilds when that file changes.

The cache never fails a run: a folder that cannot be read or written (full,
read-only, missing) means the guest is assembled without caching.  Entries are
written through ``output.py`` (a temporary file renamed into place), so a
reader never sees half of one.  The folder is kept under a size cap (``HARNESS_CACHE_MAX_MB``,
default 64 MiB) by removing the least recently used entries; ``python -m
pmtimer_harness cache clear`` empties it, ``cache info`` describes it, and
``--no-cache`` or ``HARNESS_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

from pmtimer_harness.record import Record
from pmtimer_harness.tools import files
from pmtimer_harness.tools.output import write_output

CACHE_ENV = "HARNESS_CACHE_DIR"
NO_CACHE_ENV = "HARNESS_NO_CACHE"
MAX_MB_ENV = "HARNESS_CACHE_MAX_MB"
DEFAULT_MAX_BYTES = 64 << 20
ENTRY_SUFFIX = ".entry"
ENTRY_FORMAT = 1
MAX_ENTRY_BYTES = 64 << 20  # a larger file is not one of ours, and a larger assembly is not kept
MAX_DEPENDENCY_BYTES = 256 << 20  # a larger file NASM read (an incbin) is not digested: no entry for that guest
MAX_VERSION_BYTES = 64 << 10


class CacheError(OSError):
    """Entries that could not be removed; the message is one line and names the folder."""


class Entry(Record):
    """What the cache keeps of one assembly: NASM's image, listing and map, and the files it read."""

    __slots__ = ("image", "listing", "symbol_map", "dependencies")

    def __init__(self, image: bytes, listing: str, symbol_map: str, dependencies: tuple[Path, ...]) -> None:
        self.image = image
        self.listing = listing
        self.symbol_map = symbol_map
        self.dependencies = dependencies


def enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


def folder() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return user_cache_folder() / "pmtimer-harness" / "nasm"


def user_cache_folder() -> Path:
    """The user cache folder as platformdirs finds it.

    On Linux with an absolute ``$XDG_CACHE_HOME`` or ``$HOME`` that is its rule,
    followed here without loading platformdirs (3-4 ms of every run's start);
    ``tests/test_cache_folder.py`` holds the two equal.  Anywhere else
    (macOS, Windows, Android, no usable ``$HOME``) platformdirs decides.
    """
    if sys.platform == "linux" and "ANDROID_DATA" not in os.environ:
        xdg_cache_home, home = os.environ.get("XDG_CACHE_HOME", ""), os.environ.get("HOME", "")
        if os.path.isabs(xdg_cache_home):
            return Path(xdg_cache_home)
        if os.path.isabs(home):
            return Path(home) / ".cache"
    import platformdirs

    # opinion=False: no "Cache" folder of platformdirs' own on Windows, so the folder is
    # <user cache>/pmtimer-harness/nasm on every system.
    return platformdirs.user_cache_path(appauthor=False, opinion=False)


def max_bytes() -> int:
    """The cache's size cap: HARNESS_CACHE_MAX_MB when it is a finite number, else the default."""
    try:
        megabytes = float(os.environ.get(MAX_MB_ENV, ""))
    except ValueError:
        return DEFAULT_MAX_BYTES
    if not math.isfinite(megabytes):
        return DEFAULT_MAX_BYTES
    return max(0, int(megabytes * (1 << 20)))


def key(nasm_version: str, source: Path, text: bytes, include_dirs: list[str], defines: dict[str, int]) -> str:
    """The entry's name: NASM's version, the source's path and bytes (``text``), the include folders, the defines."""
    digest = files.new_sha256()
    for part in (nasm_version, str(source), *include_dirs):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(text)
    for name, value in sorted(defines.items()):
        digest.update(f"\0-D{name}={value}".encode())
    return digest.hexdigest()[:40]


def file_digest(path: Path) -> str | None:
    """The file's SHA-256; None for one that is gone, not a regular file (a device NASM read), or huge."""
    try:
        return files.sha256(path, MAX_DEPENDENCY_BYTES)
    except OSError:
        return None


def lookup(cache_key: str) -> Entry | None:
    """The entry for ``cache_key`` if it exists, is whole, and every file it depends on is unchanged."""
    path = folder() / (cache_key + ENTRY_SUFFIX)
    try:
        entry = parse_entry(json.loads(files.read_text(path, MAX_ENTRY_BYTES)))
    except (OSError, ValueError):
        return None  # missing, unreadable, not a regular file, or not JSON: assemble again
    if entry is None or any(file_digest(dependency) != digest for dependency, digest in entry.digests):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return entry.entry


class StoredEntry(Record):
    """An entry as read back from its file, with the digests its files had when it was stored."""

    __slots__ = ("entry", "digests")

    def __init__(
        self,
        entry: Entry,
        digests: tuple[tuple[Path, str], ...],  # each file NASM read, with its content's digest when stored
    ) -> None:
        self.entry = entry
        self.digests = digests


def parse_entry(data: object) -> StoredEntry | None:
    """An entry file's JSON, each field of the type written; None for anything else (assembled again)."""
    if not isinstance(data, dict) or data.get("format") != ENTRY_FORMAT:
        return None
    dependencies, image, listing, symbol_map = (data.get(name) for name in ("dependencies", "image", "listing", "map"))
    if not isinstance(dependencies, dict) or not all(
        isinstance(name, str) and "\0" not in name and isinstance(digest, str) for name, digest in dependencies.items()
    ):
        return None
    if not (isinstance(image, str) and isinstance(listing, str) and isinstance(symbol_map, str)):
        return None
    try:
        decoded = base64.b64decode(image, validate=True)
    except binascii.Error:
        return None
    if not decoded:
        return None  # NASM's empty image is never stored: an empty guest is refused before
    entry = Entry(decoded, listing, symbol_map, tuple(map(Path, dependencies)))
    return StoredEntry(entry, tuple((Path(name), digest) for name, digest in dependencies.items()))


def entry_size_bound(entry: Entry) -> int:
    """At least the bytes ``entry`` takes as a file: its image in base64 and its text."""
    return 4 * -(-len(entry.image) // 3) + len(entry.listing) + len(entry.symbol_map)


def store(cache_key: str, entry: Entry) -> bool:
    """Keep ``entry`` if the folder allows; False (and nothing left behind) if it does not."""
    room = min(MAX_ENTRY_BYTES, max_bytes())
    if entry_size_bound(entry) > room:
        return False  # refused before it is encoded; kept, it would push every other entry out
    digests = {str(path): file_digest(path) for path in entry.dependencies}
    if None in digests.values():
        return False  # a file NASM read is gone already, or cannot be digested: nothing sound to key on
    text = json.dumps({
        "format": ENTRY_FORMAT,
        "dependencies": digests,
        "image": base64.b64encode(entry.image).decode("ascii"),
        "listing": entry.listing,
        "map": entry.symbol_map,
    })
    if len(text) > room:
        return False
    root = folder()
    try:
        root.mkdir(parents=True, exist_ok=True)
        write_output(root / (cache_key + ENTRY_SUFFIX), text.encode("utf-8"))
    except OSError:
        return False  # full, read-only, or not a folder: run without caching (output.py leaves nothing behind)
    prune(max_bytes())
    return True


VERSION_FILE = "nasm-version"


def remembered_version(executable: str) -> str | None:
    """The version line remembered for ``executable`` (path|size|mtime), if it is the one remembered."""
    if not enabled():
        return None
    try:
        remembered, _, version = files.read_text(folder() / VERSION_FILE, MAX_VERSION_BYTES).partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    return version.strip() if remembered == executable and version.strip() else None


def remember_version(executable: str, version: str) -> None:
    if not enabled() or "\n" in executable:
        return
    with contextlib.suppress(OSError):
        folder().mkdir(parents=True, exist_ok=True)
        write_output(folder() / VERSION_FILE, f"{executable}\n{version}\n".encode())


STALE_STAGING_S = 3600


def remove_stale_staging(root: Path, now: float) -> None:
    """A process killed between writing and renaming leaves a staging file: remove it once it is old."""
    with contextlib.suppress(OSError), os.scandir(root) as listing:
        for item in listing:
            if not (item.name.startswith(".") and ENTRY_SUFFIX + "." in item.name and item.name.endswith(".tmp")):
                continue  # output.py's temporary files are ".<key>.entry.<random>.tmp"
            with contextlib.suppress(OSError):
                if now - item.stat(follow_symlinks=False).st_mtime > STALE_STAGING_S:
                    os.unlink(item.path)


def entries() -> list[tuple[Path, os.stat_result]]:
    found = []
    try:
        with os.scandir(folder()) as listing:
            for item in listing:
                if item.name.endswith(ENTRY_SUFFIX) and item.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        found.append((Path(item.path), item.stat(follow_symlinks=False)))
    except OSError:
        return []
    return found


def prune(limit: int) -> int:
    """Remove the least recently used entries until the rest fit in ``limit`` bytes; the count removed."""
    removed, _ = _remove_down_to(limit)
    return removed


def _remove_down_to(limit: int) -> tuple[int, list[OSError]]:
    """The count removed, and why each entry that should have gone is still there."""
    remove_stale_staging(folder(), time.time())
    present = sorted(entries(), key=lambda item: item[1].st_mtime)
    total = sum(stat.st_size for _, stat in present)
    removed, failures = 0, []
    for path, stat in present:
        if total <= limit:
            break
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass  # another process removed it first
        except OSError as error:
            failures.append(error)
        total -= stat.st_size
    return removed, failures


def clear() -> int:
    """Remove every entry (only the cache's own files); the count removed.

    Raises CacheError, naming the folder, when the folder cannot be read or an entry cannot be removed.
    """
    root = folder()
    try:
        with os.scandir(root):
            pass
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise CacheError(f"{files.shown_name(root)}: cannot read the cache folder: {error.strerror or error}") from None
    removed, failures = _remove_down_to(-1)
    if failures:
        reason = failures[0].strerror or str(failures[0])
        raise CacheError(f"{files.shown_name(root)}: {len(failures)} cached assemblies could not be removed "
                         f"({reason}); {removed} removed")
    return removed


def summary() -> dict[str, object]:
    present = entries()
    return {
        "folder": str(folder()),
        "entries": len(present),
        "bytes": sum(stat.st_size for _, stat in present),
        "max_bytes": max_bytes(),
        "enabled": enabled(),
    }


def describe() -> str:
    facts = summary()
    state = "on" if facts["enabled"] else f"off ({NO_CACHE_ENV} is set)"
    return "\n".join([
        f"folder:   {facts['folder']}",
        f"entries:  {facts['entries']}",
        f"size:     {facts['bytes'] / (1 << 20):.2f} MiB of {facts['max_bytes'] / (1 << 20):.0f} MiB "
        f"(least recently used entries are removed past it; {MAX_MB_ENV})",
        f"caching:  {state}",
    ])
