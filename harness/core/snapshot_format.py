"""The snapshot file format: a header, then named, versioned, checksummed chunks.

Little-endian throughout; ``docs/snapshot-format.md`` describes it field by
field.  This module knows bytes only: what goes into the chunks is the
machine's business (``snapshot.py``).

    header   8s magic "PMTHSNAP", u16 format version, u16 chunk count, u32 reserved (0)
    chunk    u8 name length, name (UTF-8), u16 chunk version, u8 flags (bit 0: optional),
             u32 payload length, u32 CRC-32 of the payload, payload

Unlike bhyve's snapshots (raw structs found by enum number in a JSON index,
with no version anywhere), every chunk carries its own version and checksum,
and a reader can skip what it does not know when the writer marked it optional.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"PMTHSNAP"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sHHI")
CHUNK_HEAD = struct.Struct("<HBII")  # after the name: version, flags, length, crc32
OPTIONAL = 0x01
MAX_CHUNKS = 1024
MAX_NAME = 255


class SnapshotError(Exception):
    """A snapshot that cannot be read or used; the message says what is wrong."""


@dataclass(frozen=True)
class Chunk:
    name: str
    version: int
    payload: bytes
    optional: bool = False


def encode(chunks: list[Chunk]) -> bytes:
    parts = [HEADER.pack(MAGIC, FORMAT_VERSION, len(chunks), 0)]
    for chunk in chunks:
        name = chunk.name.encode()
        flags = OPTIONAL if chunk.optional else 0
        parts.append(struct.pack("<B", len(name)) + name)
        parts.append(CHUNK_HEAD.pack(chunk.version, flags, len(chunk.payload), zlib.crc32(chunk.payload)))
        parts.append(chunk.payload)
    return b"".join(parts)


def decode(data: bytes) -> list[Chunk]:
    """Every chunk, checked: magic, version, bounds, names, checksums.  Raises SnapshotError."""
    if len(data) < HEADER.size:
        raise SnapshotError(f"too short for a snapshot header ({len(data)} bytes, need {HEADER.size})")
    magic, version, count, _ = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SnapshotError(f"not a snapshot: the file starts with {magic!r}, not {MAGIC!r}")
    if version > FORMAT_VERSION:
        raise SnapshotError(f"snapshot format version {version} is newer than this harness reads ({FORMAT_VERSION})")
    if version < 1:
        raise SnapshotError(f"snapshot format version {version} does not exist")
    if count > MAX_CHUNKS:
        raise SnapshotError(f"the header claims {count} chunks; at most {MAX_CHUNKS} are allowed")
    chunks = []
    offset = HEADER.size
    for index in range(count):
        chunk, offset = _decode_chunk(data, offset, index)
        chunks.append(chunk)
    if offset != len(data):
        raise SnapshotError(f"{len(data) - offset} bytes follow the last chunk")
    names = [chunk.name for chunk in chunks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SnapshotError(f"chunk {duplicates[0]!r} appears more than once")
    return chunks


def _decode_chunk(data: bytes, offset: int, index: int) -> tuple[Chunk, int]:
    where = f"chunk {index + 1}"
    if offset + 1 > len(data):
        raise SnapshotError(f"truncated: {where} is missing")
    name_length = data[offset]
    name_bytes = data[offset + 1 : offset + 1 + name_length]
    if len(name_bytes) != name_length or offset + 1 + name_length + CHUNK_HEAD.size > len(data):
        raise SnapshotError(f"truncated in the header of {where}")
    try:
        name = name_bytes.decode()
    except UnicodeDecodeError:
        raise SnapshotError(f"{where} has a name that is not UTF-8") from None
    if not name:
        raise SnapshotError(f"{where} has an empty name")
    offset += 1 + name_length
    version, flags, length, crc = CHUNK_HEAD.unpack_from(data, offset)
    offset += CHUNK_HEAD.size
    if length > len(data) - offset:
        raise SnapshotError(f"chunk {name!r} claims {length} bytes but only {len(data) - offset} remain")
    payload = data[offset : offset + length]
    if zlib.crc32(payload) != crc:
        raise SnapshotError(f"chunk {name!r} fails its checksum: the file is damaged")
    return Chunk(name, version, payload, bool(flags & OPTIONAL)), offset + length
