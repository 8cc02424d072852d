"""Guest RAM in a snapshot (the ``ram`` chunk), a MiB at a time.

Guest RAM can be large (up to ``MAX_MEMORY``) and is mostly untouched: Unicorn
maps it lazily, so a 1 GiB guest that used 1 MiB costs the host 1 MiB.  A
snapshot must keep it that way on both sides: the RAM is read, compressed,
decompressed and written one piece at a time, a piece of zeros is stored as
its length alone, and a restore writes only the pieces that differ from what
the new machine holds.  ``docs/snapshot-format.md`` has the layout.

    payload  u64 RAM size, u8 compression, then
             compression 1 (older snapshots): one zlib stream of the whole RAM;
             compression 2: u32 piece size, then per piece a u32 length,
             0 for a piece of zeros, else that many bytes of zlib data.
"""

from __future__ import annotations

import struct
import zlib

import unicorn
from pmtimer_harness.core.snapshot_format import Chunk, SnapshotError

COMPRESSION_ZLIB = 1
COMPRESSION_ZLIB_PIECES = 2
RAM_PIECE = 1 << 20
ZLIB_LEVEL = 6
ZEROS = bytes(RAM_PIECE)
HEADER = struct.Struct("<QB")
LENGTH = struct.Struct("<I")


def ram_chunk(uc: unicorn.Uc, size: int) -> Chunk:
    parts = [HEADER.pack(size, COMPRESSION_ZLIB_PIECES), LENGTH.pack(RAM_PIECE)]
    for start in range(0, size, RAM_PIECE):
        piece = bytes(uc.mem_read(start, min(RAM_PIECE, size - start)))
        if piece == ZEROS[: len(piece)]:
            parts.append(LENGTH.pack(0))
            continue
        packed = zlib.compress(piece, ZLIB_LEVEL)
        parts.append(LENGTH.pack(len(packed)) + packed)
    return Chunk("ram", 1, b"".join(parts))


def restore_ram(uc: unicorn.Uc, size: int, chunk: Chunk) -> None:
    payload = memoryview(chunk.payload)
    if len(payload) < HEADER.size:
        raise SnapshotError("chunk 'ram' is too short for its header")
    saved_size, compression = HEADER.unpack_from(payload)
    if saved_size != size:
        raise SnapshotError(f"chunk 'ram' holds {saved_size} bytes but the configuration says {size}")
    if compression == COMPRESSION_ZLIB:
        _restore_stream(uc, size, payload[HEADER.size :])
    elif compression == COMPRESSION_ZLIB_PIECES:
        _restore_pieces(uc, size, payload[HEADER.size :])
    else:
        raise SnapshotError(f"chunk 'ram' uses compression {compression}; this harness knows 1 and 2 (zlib)")


def _put(uc: unicorn.Uc, address: int, piece: bytes) -> None:
    # Write only what differs: RAM the guest never touched stays unallocated on the host.
    if uc.mem_read(address, len(piece)) != piece:
        uc.mem_write(address, piece)


def _restore_pieces(uc: unicorn.Uc, size: int, data: memoryview) -> None:
    if len(data) < LENGTH.size:
        raise SnapshotError("chunk 'ram' is too short for its piece size")
    (piece_size,) = LENGTH.unpack_from(data)
    if piece_size != RAM_PIECE:
        raise SnapshotError(f"chunk 'ram' has {piece_size}-byte pieces; this harness reads {RAM_PIECE}")
    offset = LENGTH.size
    for address in range(0, size, RAM_PIECE):
        expected = min(RAM_PIECE, size - address)
        if offset + LENGTH.size > len(data):
            raise SnapshotError(f"chunk 'ram' ends before the piece at {address:#x}")
        (length,) = LENGTH.unpack_from(data, offset)
        offset += LENGTH.size
        if length == 0:
            _put(uc, address, ZEROS[:expected])
            continue
        if offset + length > len(data):
            raise SnapshotError(f"chunk 'ram': the piece at {address:#x} claims more bytes than remain")
        decompressor = zlib.decompressobj()
        try:
            piece = decompressor.decompress(data[offset : offset + length], expected)
        except zlib.error as error:
            raise SnapshotError(f"chunk 'ram': the piece at {address:#x} does not decompress: {error}") from None
        if len(piece) != expected or not decompressor.eof:
            raise SnapshotError(f"chunk 'ram': the piece at {address:#x} is not {expected} bytes")
        _put(uc, address, piece)
        offset += length
    if offset != len(data):
        raise SnapshotError(f"chunk 'ram' has {len(data) - offset} bytes after its last piece")


def _restore_stream(uc: unicorn.Uc, size: int, data: memoryview) -> None:
    decompressor = zlib.decompressobj()
    pending: bytes | memoryview = data
    address = 0
    try:
        while address < size:
            piece = decompressor.decompress(pending, min(RAM_PIECE, size - address))
            pending = decompressor.unconsumed_tail
            if not piece:
                break
            _put(uc, address, piece)
            address += len(piece)
        extra = decompressor.decompress(pending, 1)
    except zlib.error as error:
        raise SnapshotError(f"chunk 'ram' does not decompress: {error}") from None
    if address != size or extra or not decompressor.eof:
        raise SnapshotError(f"chunk 'ram' decompresses to the wrong size (expected {size} bytes)")
