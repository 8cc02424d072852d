"""A platform's fingerprint: what a guest sees of its PM timer, field by field, and two of them compared.

The probe ``asm/fingerprint.asm`` prints one ``INFO: name=value`` line per
field (the FADT's timer fields, the PM1 registers as the firmware hands them
over, and each narrow or unaligned read of the timer, classed so that the
value is the same on every run).  This module reads those lines back, in the
probe's order, and compares two fingerprints; it runs nothing (the
``fingerprint`` command boots the probe in the harness or in a peer).

A field the probe never printed is named for why: the read or write that
stopped the guest (bhyve refuses a narrow read) is ``stops the guest`` and
every field after it ``not reached``; a platform without a timer leaves the
timer's fields ``no timer``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pmtimer_harness.asm import BUNDLED_GUESTS_DIR
from pmtimer_harness.columns import aligned

PROBE = BUNDLED_GUESTS_DIR / "fingerprint.asm"

# The probe's fields, in the order it measures and prints them.
FIELDS = (
    "fadt_revision", "xsdt_fadt_revision", "x_fields", "pm_tmr_blk", "pm_tmr_len", "x_pm_tmr_blk",
    "x_pm_tmr_blk_access_size", "tmr_val_ext", "hardware_reduced", "smi_cmd", "acpi_enable", "timer_port",
    "tmr_sts_at_handover", "sci_en_at_handover", "tmr_en_readback",
    "read1_at_0", "read1_at_1", "read1_at_2", "read1_at_3",
    "read2_at_0", "read2_at_1", "read2_at_2", "read2_at_3",
    "read4_at_1", "read4_at_2", "read4_at_3",
    "write4",
)
TIMER_FIELDS = FIELDS[FIELDS.index("read1_at_0"):]  # the probe takes these only where there is a timer

STOPPED = "stops the guest"
NOT_REACHED = "not reached"
NO_TIMER = "no timer"
MISSING = "-"  # the probe ended without it, for no reason the run gives

FIELD_LINE = re.compile(r"^INFO: ([a-z0-9_]+)=(\S+)$", re.MULTILINE)
HEX = re.compile(r"0x[0-9a-fA-F]+")


class FingerprintError(ValueError):
    """A fingerprint that cannot be read: a file that is not one saved by ``fingerprint --json``."""


@dataclass(frozen=True)
class Fingerprint:
    """What one platform showed: ``fields`` holds every name in FIELDS, in that order."""

    source: str  # where it was taken: "platform qemu", "QEMU pc/tcg", "Bochs", or a file
    fields: Mapping[str, str]

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "fields": dict(self.fields)}


@dataclass(frozen=True)
class FieldComparison:
    name: str
    first: str
    second: str

    @property
    def agree(self) -> bool:
        return self.first == self.second


def parse(console: str, source: str, *, stopped: bool = False) -> Fingerprint:
    """The fingerprint the probe printed; ``stopped``: the platform ended the run at an access it refuses."""
    printed = {name: _shown(value) for name, value in FIELD_LINE.findall(console) if name in FIELDS}
    # The probe prints in FIELDS' order: a stop came at the field after the last one printed.
    stopped_at = max((FIELDS.index(name) for name in printed), default=-1) + 1 if stopped else len(FIELDS)
    fields: dict[str, str] = {}
    for index, name in enumerate(FIELDS):
        if name in printed:
            fields[name] = printed[name]
        elif name in TIMER_FIELDS and printed.get("timer_port") == "none":
            fields[name] = NO_TIMER
        elif index >= stopped_at:
            fields[name] = STOPPED if index == stopped_at else NOT_REACHED
        else:
            fields[name] = MISSING
    return Fingerprint(source, fields)


def _shown(value: str) -> str:
    """A value as the fingerprint keeps it: numbers in hex without leading zeros (0x00000608 is 0x608)."""
    return f"{int(value, 16):#x}" if HEX.fullmatch(value) else value


def compare(first: Fingerprint, second: Fingerprint) -> list[FieldComparison]:
    return [FieldComparison(name, first.fields[name], second.fields[name]) for name in FIELDS]


def format_table(fingerprint: Fingerprint) -> str:
    width = max(map(len, FIELDS))
    lines = [f"fingerprint of {fingerprint.source}"]
    lines += [f"  {name:<{width}}  {fingerprint.fields[name]}" for name in FIELDS]
    return "\n".join(lines)


def format_comparison(first: Fingerprint, second: Fingerprint) -> str:
    rows = compare(first, second)
    table = [("field", first.source, second.source, "")]
    table += [(row.name, row.first, row.second, "" if row.agree else "differs") for row in rows]
    lines = ["  " + line for line in aligned(table, free_last=True)]
    agreeing = sum(row.agree for row in rows)
    lines.append(f"{agreeing} of {len(rows)} fields agree")
    return "\n".join(lines)


def comparison_as_dict(first: Fingerprint, second: Fingerprint) -> dict[str, object]:
    rows = compare(first, second)
    return {
        "first": first.source, "second": second.source, "agree": all(row.agree for row in rows),
        "fields": [{"name": row.name, "first": row.first, "second": row.second, "agree": row.agree} for row in rows],
    }


def from_json(text: str, source: str) -> Fingerprint:
    """A fingerprint saved by ``fingerprint --json``; anything else is a FingerprintError."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise FingerprintError(f"{source}: not JSON ({error})") from None
    fields = data.get("fields") if isinstance(data, dict) else None
    if not isinstance(fields, dict):
        raise FingerprintError(f"{source}: not a fingerprint saved by `fingerprint --json` (no \"fields\" object)")
    missing = [name for name in FIELDS if not isinstance(fields.get(name), str)]
    if missing:
        raise FingerprintError(f"{source}: field {missing[0]} is missing or not text "
                               f"({len(missing)} of {len(FIELDS)} fields are)")
    saved_source = data.get("source")
    return Fingerprint(saved_source if isinstance(saved_source, str) else source,
                       {name: fields[name] for name in FIELDS})

