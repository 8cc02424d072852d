"""The profiles for people: a table, JSON, and ``docs/platforms.md`` with a source for every property.

``docs/platforms.md`` is this module's output (``python -m pmtimer_harness
platforms --markdown > docs/platforms.md``); a test fails when the file and the
profile data disagree.  One profile in full (``platforms NAME``) adds its
expected fingerprint: the probe's fields as the harness shows them under the
profile, each with the property that decides it and that property's source.
"""

from __future__ import annotations

from pmtimer_harness.columns import aligned
from pmtimer_harness.platform.fingerprint import FIELDS, Fingerprint
from pmtimer_harness.platform.profiles import MODEL, PROFILES, PROPERTIES, QUIRKS, UNVERIFIABLE, Profile
from pmtimer_harness.platform.sources import is_model

# The profile property that decides each field of the probe.
FIELD_PROPERTIES = {
    **dict.fromkeys(FIELDS[:FIELDS.index("smi_cmd")], "fadt"),
    "smi_cmd": "handover", "acpi_enable": "handover", "timer_port": "port",
    "tmr_sts_at_handover": "first_tmr_sts", "sci_en_at_handover": "handover", "tmr_en_readback": "tmr_en",
    **{name: "narrow_reads" for name in FIELDS if name.startswith("read")},
    "write4": "writes",
}

HEADINGS = {
    "port": "port", "width": "width", "narrow_reads": "1-/2-byte and unaligned reads", "writes": "writes",
    "tmr_sts": "TMR_STS", "first_tmr_sts": "first TMR_STS", "tmr_en": "TMR_EN", "sci": "SCI",
    "handover": "hand-over", "pm1_base": "PM1 block", "pm1_access": "PM1 accesses", "time_base": "time base",
    "unlatched_reads": "unlatched reads", "restore": "after a restore", "fadt": "FADT",
    "unclaimed_ports": "unclaimed ports", "rtc": "CMOS/RTC", "com1": "COM1",
}


def as_json() -> list[dict[str, object]]:
    return [profile.as_dict() for profile in PROFILES.values()]


def table() -> str:
    """One line per platform: name, port, width and the one-line summary."""
    rows = [("platform", "port", "width", "what it is")]
    rows += [(p.name, p.shown("port"), str(p.width) if p.has_timer else "-", p.summary) for p in PROFILES.values()]
    lines = aligned(rows, free_last=True)
    lines.append("")
    lines.append("quirks (--quirk NAME, repeatable): " + ", ".join(QUIRKS))
    lines.append("closed, so not profiled (what is known: docs/platforms.md): " + ", ".join(UNVERIFIABLE))
    lines.append("one in full, with its sources and expected fingerprint: platforms NAME")
    return "\n".join(lines)


def shown_source(source: str) -> str:
    """A source as people read it: a model says so first."""
    return f"(model) {source.removeprefix(MODEL)}" if is_model(source) else source


def _profile_section(profile: Profile) -> list[str]:
    lines = [f"## `{profile.name}`", "", profile.summary + ".", "", "| property | value | source |", "|---|---|---|"]
    for name in PROPERTIES:
        lines.append(f"| {HEADINGS[name]} | {profile.shown(name)} | {shown_source(profile.sources[name])} |")
    lines.append("")
    return lines


def expected_fingerprint(profile: Profile, fingerprint: Fingerprint) -> list[dict[str, str]]:
    """Each field the probe showed under ``profile``, with the property that decides it and that one's source."""
    return [
        {"field": name, "value": fingerprint.fields[name], "property": FIELD_PROPERTIES[name],
         "source": shown_source(profile.sources[FIELD_PROPERTIES[name]])}
        for name in FIELDS
    ]


def detail(profile: Profile, fingerprint: Fingerprint) -> str:
    """One profile in full: its properties with their sources, then the fingerprint a guest sees."""
    lines = [f"{profile.name}: {profile.summary}", ""]
    width = max(len(HEADINGS[name]) for name in PROPERTIES)
    for name in PROPERTIES:
        shown = profile.shown(name)
        lines.append(f"  {HEADINGS[name]:<{width}}  {shown}")
        if shown != "-":  # a property the board does not have: the source that says so is given once, at port
            lines.append(f"  {'':<{width}}    source: {shown_source(profile.sources[name])}")
    rows = expected_fingerprint(profile, fingerprint)
    field_width = max(len(row["field"]) for row in rows)
    value_width = max(len(row["value"]) for row in rows)
    lines += ["", f"expected fingerprint (python -m pmtimer_harness fingerprint --platform {profile.name}):"]
    lines += [f"  {row['field']:<{field_width}}  {row['value']:<{value_width}}  from {row['property']}"
              for row in rows]
    return "\n".join(lines)


def markdown() -> str:
    lines = [
        "# Platforms",
        "",
        "Generated from `harness/platform/profiles.py` by `python -m pmtimer_harness platforms --markdown`;",
        "a test fails when this file is stale. A source marked (model) is the harness's own choice where no",
        "platform source decides. Picking a platform, combining it with quirks and options, and what a",
        "guest sees of it: [machine.md](machine.md#platforms).",
        "",
        "| platform | port | width | 1-/2-byte and unaligned reads | TMR_STS | time base | after a restore | RTC "
        "| COM1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in PROFILES.values():
        width = str(p.width) if p.has_timer else "-"
        cells = (p.shown("narrow_reads"), p.shown("tmr_sts"), p.shown("time_base"), p.shown("restore"),
                 "yes" if p.rtc else "no", "yes" if p.com1 else "no")
        lines.append(f"| `{p.name}` | {p.shown('port')} | {width} | " + " | ".join(cells) + " |")
    lines.append("")
    for profile in PROFILES.values():
        lines += _profile_section(profile)
    lines += ["## Quirks", "", "| quirk | what it does | source |", "|---|---|---|"]
    lines += [f"| `{quirk.name}` | {quirk.summary} | {shown_source(quirk.source)} |" for quirk in QUIRKS.values()]
    lines += ["", "## Closed platforms, not profiled", "",
              "No public source shows how these present the timer, so no profile claims them.", "",
              "| platform | what is known |", "|---|---|"]
    lines += [f"| {name} | {known} |" for name, known in UNVERIFIABLE.items()]
    return "\n".join(lines) + "\n"
