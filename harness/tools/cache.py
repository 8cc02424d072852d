"""The assembly cache: NASM's output for a guest, kept until anything NASM read changes.

An entry is one file, ``<key>.entry``, in the cache folder (``HARNESS_CACHE_DIR``,
else the user cache folder: ``~/.cache/pmtimer-harness/nasm`` on Linux,
``~/Library/Caches/pmtimer-harness/nasm`` on macOS,
``%LOCALAPPDATA%\\pmtimer-harness\\nasm`` on Windows).  The key covers NASM's
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
import contextlib
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pmtimer_harness.tools.output import write_output

CACHE_ENV = "HARNESS_CACHE_DIR"
NO_CACHE_ENV = "HARNESS_NO_CACHE"
MAX_MB_ENV = "HARNESS_CACHE_MAX_MB"
DEFAULT_MAX_BYTES = 64 << 20
ENTRY_SUFFIX = ".entry"
ENTRY_FORMAT = 1
MAX_ENTRY_BYTES = 64 << 20  # a larger file is not one of ours


@dataclass(frozen=True)
class Entry:
    image: bytes
    listing: str
    symbol_map: str
    dependencies: tuple[Path, ...]


def enabled() -> bool:
    return os.environ.get(NO_CACHE_ENV, "") in ("", "0")


def folder() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "pmtimer-harness" / "nasm"


def max_bytes() -> int:
    """The cache's size cap: HARNESS_CACHE_MAX_MB when it is a finite number, else the default."""
    try:
        megabytes = float(os.environ.get(MAX_MB_ENV, ""))
    except ValueError:
        return DEFAULT_MAX_BYTES
    if not math.isfinite(megabytes):
        return DEFAULT_MAX_BYTES
    return max(0, int(megabytes * (1 << 20)))


def key(nasm_version: str, source: Path, include_dirs: list[str], defines: dict[str, int]) -> str:
    digest = hashlib.sha256()
    for part in (nasm_version, str(source), *include_dirs):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(source.read_bytes())
    for name, value in sorted(defines.items()):
        digest.update(f"\0-D{name}={value}".encode())
    return digest.hexdigest()[:40]


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def lookup(cache_key: str) -> Entry | None:
    """The entry for ``cache_key`` if it exists, is whole, and every file it depends on is unchanged."""
    path = folder() / (cache_key + ENTRY_SUFFIX)
    try:
        if path.stat().st_size > MAX_ENTRY_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != ENTRY_FORMAT:
            return None
        dependencies = data["dependencies"]
        for name, digest in dependencies.items():
            if file_digest(Path(name)) != digest:
                return None
        entry = Entry(base64.b64decode(data["image"]), data["listing"], data["map"], tuple(map(Path, dependencies)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, unreadable or damaged: assemble again
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return entry


def store(cache_key: str, entry: Entry) -> bool:
    """Keep ``entry`` if the folder allows; False (and nothing left behind) if it does not."""
    digests = {str(path): file_digest(path) for path in entry.dependencies}
    if None in digests.values():
        return False  # a file NASM read is gone already: nothing sound to key on
    text = json.dumps({
        "format": ENTRY_FORMAT,
        "dependencies": digests,
        "image": base64.b64encode(entry.image).decode("ascii"),
        "listing": entry.listing,
        "map": entry.symbol_map,
    })
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
        remembered, _, version = (folder() / VERSION_FILE).read_text(encoding="utf-8").partition("\n")
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
    remove_stale_staging(folder(), time.time())
    present = sorted(entries(), key=lambda item: item[1].st_mtime)
    total = sum(stat.st_size for _, stat in present)
    removed = 0
    for path, stat in present:
        if total <= limit:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
        total -= stat.st_size
    return removed


def clear() -> int:
    """Remove every entry (only the cache's own files); the count removed."""
    return prune(-1)


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
