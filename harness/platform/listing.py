"""The profiles for people: a table, JSON, and ``docs/platforms.md`` with a source for every property.

``docs/platforms.md`` is this module's output (``python -m pmtimer_harness
platforms --markdown > docs/platforms.md``); a test fails when the file and the
profile data disagree.
"""

from __future__ import annotations

from pmtimer_harness.platform.profiles import PROFILES, PROPERTIES, QUIRKS, Profile

HEADINGS = {
    "port": "port", "width": "width", "narrow_reads": "1-/2-byte and unaligned reads", "writes": "writes",
    "tmr_sts": "TMR_STS", "first_tmr_sts": "first TMR_STS", "sci": "SCI", "handover": "hand-over",
    "pm1_base": "PM1 block", "time_base": "time base",
    "unlatched_reads": "unlatched reads", "restore": "after a restore", "fadt": "FADT",
}


def as_json() -> list[dict[str, object]]:
    return [profile.as_dict() for profile in PROFILES.values()]


def table() -> str:
    """One line per platform: name, port, width and the one-line summary."""
    rows = [("platform", "port", "width", "what it is")]
    rows += [(p.name, p.shown("port"), str(p.width) if p.has_timer else "-", p.summary) for p in PROFILES.values()]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "  " + row[3]
        for row in rows
    ]
    lines.append("")
    lines.append("quirks (--quirk NAME, repeatable): " + ", ".join(QUIRKS))
    return "\n".join(lines)


def _profile_section(profile: Profile) -> list[str]:
    lines = [f"## `{profile.name}`", "", profile.summary + ".", "", "| property | value | source |", "|---|---|---|"]
    for name in PROPERTIES:
        lines.append(f"| {HEADINGS[name]} | {profile.shown(name)} | {profile.sources[name]} |")
    lines.append("")
    return lines


def markdown() -> str:
    lines = [
        "# Platforms",
        "",
        "Generated from `harness/platform/profiles.py` by `python -m pmtimer_harness platforms --markdown`;",
        "a test fails when this file is stale. Pick one with `--platform NAME` (command line or a guest's",
        "`; harness:` header); `--timer-port`, `--timer-width` and `--io-semantics` override the profile,",
        "and `--quirk NAME` adds one property of another platform.",
        "",
        "| platform | port | width | 1-/2-byte and unaligned reads | TMR_STS | time base | after a restore |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in PROFILES.values():
        width = str(p.width) if p.has_timer else "-"
        cells = (p.shown("narrow_reads"), p.shown("tmr_sts"), p.shown("time_base"), p.shown("restore"))
        lines.append(f"| `{p.name}` | {p.shown('port')} | {width} | " + " | ".join(cells) + " |")
    lines.append("")
    for profile in PROFILES.values():
        lines += _profile_section(profile)
    lines += ["## Quirks", "", "| quirk | what it does | source |", "|---|---|---|"]
    lines += [f"| `{quirk.name}` | {quirk.summary} | {quirk.source} |" for quirk in QUIRKS.values()]
    return "\n".join(lines) + "\n"
