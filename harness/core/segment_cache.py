"""The hidden half of the segment registers, which Unicorn's register API cannot reach.

Beside each visible selector an x86 CPU keeps the base, limit and attributes
it loaded from the descriptor (Intel SDM vol. 3A, 3.4.3 "Segment Registers").
They outlive the descriptor: a guest may change or drop its GDT, or return to
real mode with a 4 GiB limit ("unreal mode"), and go on using them.  Unicorn
2.1 reads and writes only the selector, and in its 16-bit mode writing one
always loads base = selector x 16 (unicorn-engine/unicorn:
qemu/target/i386/unicorn.c (``load_seg_16_helper``)).

The caches do live in Unicorn's saved context, a copy of QEMU's
``CPUX86State`` (qemu/target/i386/cpu.h): ``hflags`` then ``segs[6]``, each a
``SegmentCache`` of u32 selector, u64 base, u32 limit, u32 flags, in QEMU's
order ES, CS, SS, DS, FS, GS.  This module finds them there, and proves it
found them first by reading back values it wrote through the register API
(``layout_known``).  To restore, it takes a context of the CPU as the
register API left it and writes only numbers into it: the six caches and the
``hflags`` bits that QEMU derives from them (code and stack size, CPL, whether
segment bases are added).  No byte of a file is ever handed to Unicorn as
context; every other field comes from the CPU itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

import unicorn
from unicorn import x86_const as x86

# qemu/target/i386/cpu.h, as Unicorn 2.1 lays its context out (checked by layout_known()).
HFLAGS_OFFSET = 216
SEGMENTS_OFFSET = 224
SEGMENT_CACHE = struct.Struct("<I4xQII")  # selector, (padding), base, limit, flags
SEGMENT_ORDER = ("es", "cs", "ss", "ds", "fs", "gs")  # QEMU's R_ES .. R_GS
GDT_INDEX = 8  # segs[6], then ldt, tr, gdt, idt
# hflags bits QEMU's cpu_x86_load_seg_cache sets from the caches (HF_*_MASK).
HF_CPL = 0x3
HF_CS32 = 1 << 4
HF_SS32 = 1 << 5
HF_ADDSEG = 1 << 6
HF_LMA = 1 << 14
HF_CS64 = 1 << 15
SEGMENT_HFLAGS = HF_CPL | HF_CS32 | HF_SS32 | HF_ADDSEG | HF_CS64
MODE_BITS = {"cpl": HF_CPL, "cs32": HF_CS32, "ss32": HF_SS32, "addseg": HF_ADDSEG, "cs64": HF_CS64}

REAL_MODE_DATA_FLAGS = 0x9300  # present, data, writable, accessed: what QEMU loads in real mode


class HiddenStateError(ValueError):
    """Saved hidden segment state that no CPU could hold; the message says which value."""


@dataclass(frozen=True)
class SegmentCache:
    selector: int
    base: int
    limit: int
    flags: int


def _context_bytes(uc: unicorn.Uc) -> bytes:
    return bytes(uc.context_save())


def _cache_at(data: bytes, index: int) -> SegmentCache:
    return SegmentCache(*SEGMENT_CACHE.unpack_from(data, SEGMENTS_OFFSET + index * SEGMENT_CACHE.size))


@cache
def layout_known() -> bool:
    """True when this Unicorn keeps the caches where this module looks: checked on a probe CPU."""
    probe = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_16)
    selectors = {"es": 0x2345, "cs": 0, "ss": 0x5678, "ds": 0x1234, "fs": 0x3456, "gs": 0x4567}
    for name, selector in selectors.items():
        if name != "cs":
            probe.reg_write(getattr(x86, f"UC_X86_REG_{name.upper()}"), selector)
    probe.reg_write(x86.UC_X86_REG_GDTR, (0, 0x12340, 0x5F, 0))
    try:
        data = _context_bytes(probe)
        found = {name: _cache_at(data, index) for index, name in enumerate(SEGMENT_ORDER)}
        gdt = _cache_at(data, GDT_INDEX)
        (hflags,) = struct.unpack_from("<I", data, HFLAGS_OFFSET)
    except struct.error:
        return False
    data_segments_right = all(
        found[name] == SegmentCache(selector, selector << 4, 0xFFFF, REAL_MODE_DATA_FLAGS)
        for name, selector in selectors.items() if name != "cs"
    )
    return data_segments_right and (gdt.base, gdt.limit) == (0x12340, 0x5F) and hflags & SEGMENT_HFLAGS == HF_ADDSEG


def read_hidden(uc: unicorn.Uc) -> dict[str, int] | None:
    """The caches and mode bits as named numbers (``ds.base``, ``mode.cs32``...); None if the layout is unknown."""
    if not layout_known():
        return None
    data = _context_bytes(uc)
    values = {}
    for index, name in enumerate(SEGMENT_ORDER):
        segment = _cache_at(data, index)
        values.update({f"{name}.base": segment.base, f"{name}.limit": segment.limit, f"{name}.flags": segment.flags})
    (hflags,) = struct.unpack_from("<I", data, HFLAGS_OFFSET)
    values.update({f"mode.{name}": (hflags & mask) // (mask & -mask) for name, mask in MODE_BITS.items()})
    return values


def has_hidden(values: dict[str, int]) -> bool:
    """True when ``values`` holds every cache, mode bit and selector ``write_hidden`` needs."""
    names = [f"{segment}.{part}" for segment in SEGMENT_ORDER for part in ("base", "limit", "flags")]
    return all(name in values for name in [*names, *SEGMENT_ORDER, *(f"mode.{bit}" for bit in MODE_BITS)])


def write_hidden(uc: unicorn.Uc, values: dict[str, int]) -> bool:
    """Put saved caches and mode bits into the CPU; False if this Unicorn's layout is unknown.

    Call it after the control registers are written (the graft keeps the
    CPU's own EFER.LMA).  ``values`` holds the selectors (``ds``...) too.
    Raises HiddenStateError for values out of range.
    """
    if not layout_known():
        return False
    context = uc.context_save()
    data = bytearray(bytes(context))
    for index, name in enumerate(SEGMENT_ORDER):
        segment = SegmentCache(values[name], values[f"{name}.base"], values[f"{name}.limit"], values[f"{name}.flags"])
        _check(name, segment)
        SEGMENT_CACHE.pack_into(data, SEGMENTS_OFFSET + index * SEGMENT_CACHE.size,
                                segment.selector, segment.base, segment.limit, segment.flags)
    (hflags,) = struct.unpack_from("<I", data, HFLAGS_OFFSET)
    struct.pack_into("<I", data, HFLAGS_OFFSET, _mode_hflags(hflags, values))
    context.__setstate__((bytes(data), context.size, context.arch, context.mode))
    uc.context_restore(context)
    return True


def _check(name: str, segment: SegmentCache) -> None:
    if not 0 <= segment.selector <= 0xFFFF:
        raise HiddenStateError(f"segment {name}: selector {segment.selector:#x} exceeds 16 bits")
    if not 0 <= segment.limit <= 0xFFFF_FFFF or not 0 <= segment.flags <= 0xFFFF_FFFF:
        raise HiddenStateError(f"segment {name}: limit {segment.limit:#x} or flags {segment.flags:#x} exceed 32 bits")
    if not 0 <= segment.base < 1 << 64:
        raise HiddenStateError(f"segment {name}: base {segment.base:#x} exceeds 64 bits")


def _mode_hflags(current: int, values: dict[str, int]) -> int:
    """The CPU's hflags with the segment-derived bits as saved; checked against what a CPU can be in."""
    bits = 0
    for name, mask in MODE_BITS.items():
        value = values[f"mode.{name}"]
        limit = mask // (mask & -mask)
        if not 0 <= value <= limit:
            raise HiddenStateError(f"mode.{name} is {value}, at most {limit}")
        bits |= value * (mask & -mask)
    if bits & HF_CS64 and not current & HF_LMA:
        raise HiddenStateError("mode.cs64 is set but the CPU is not in long mode (EFER.LMA clear)")
    return (current & ~SEGMENT_HFLAGS) | bits
