"""Platforms as data: the listing, the generated docs, the matrix and per-platform expectations."""

import json
from pathlib import Path

from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.matrix import run_matrix
from pmtimer_harness.platform.fingerprint import FIELDS
from pmtimer_harness.platform.listing import markdown
from pmtimer_harness.platform.profiles import PROFILES, PROPERTIES
from pmtimer_harness.tools.guest import platform_expectations

from tests.guests import bundled

DOCS = Path(__file__).resolve().parent.parent / "docs" / "platforms.md"
REQUIRED = {"acpi", "bhyve", "qemu", "qemu-ovmf", "xen", "virtualbox", "hyperv", "cloud-hypervisor", "bochs", "piix4",
            "no-pm-timer", "intel-pch", "amd-fch",
            # the platforms still missing before: each with its sources
            "qemu-q35", "qemu-microvm", "firecracker", "crosvm", "xen-pvh", "xen-v0", "acrn", "acrn-prelaunched",
            "hyperv-gen1", "bochs-uefi", "intel-pch-tim-dis"}


def test_docs_platforms_md_is_generated_from_the_profiles():
    assert DOCS.read_text() == markdown(), "stale: python -m pmtimer_harness platforms --markdown > docs/platforms.md"


def test_platforms_json_lists_every_profile_with_port_width_and_summary(capsys):
    assert main(["platforms", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {entry["name"] for entry in listed} == set(PROFILES) >= REQUIRED
    qemu = next(entry for entry in listed if entry["name"] == "qemu")
    assert (qemu["port"], qemu["width"]) == (0x608, 24) and qemu["summary"]


def test_a_declared_expectation_not_met_fails_the_matrix_and_one_met_does_not(tmp_path):
    guest = tmp_path / "needs_a_timer.asm"
    source = bundled("hello.asm").read_text()
    guest.write_text("; expect: no-pm-timer=fail\n" + source)
    assert platform_expectations(guest) == {"no-pm-timer": "fail"}
    (cell,) = run_matrix([guest], ["no-pm-timer"])
    assert cell.verdict == "pass" and cell.unmet
    (cell,) = run_matrix([guest], ["acpi"])
    assert not cell.unmet


def test_platforms_json_gives_every_property_a_source_or_marks_it_a_model(capsys):
    assert main(["platforms", "--json"]) == 0
    for entry in json.loads(capsys.readouterr().out):
        assert set(entry["properties"]) == set(PROPERTIES), entry["name"]
        for name, record in entry["properties"].items():
            assert (record["source"] is None) != (record["model"] is None), (entry["name"], name)
            assert (record["source"] or record["model"]).strip(), (entry["name"], name)
        if entry["name"] == "piix4":
            assert entry["properties"]["narrow_reads"]["model"]  # no PIIX4 source says what narrow reads give


def test_one_platform_in_full_shows_its_expected_fingerprint_field_by_field(capsys):
    assert main(["platforms", "qemu", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    rows = {row["field"]: row for row in shown["fingerprint"]}
    assert list(rows) == list(FIELDS)
    assert rows["read2_at_1"]["value"] == "zero" and rows["read2_at_1"]["property"] == "narrow_reads"
    assert "memory_region_access_valid" in rows["read2_at_1"]["source"]
    assert rows["smi_cmd"]["value"] == "0xb2" and "init_common_fadt_data" in rows["smi_cmd"]["source"]
    assert main(["platforms", "bhyve"]) == 0
    text = capsys.readouterr().out
    assert "expected fingerprint" in text and "stops the guest" in text


def test_one_platform_that_does_not_exist_is_a_usage_error(capsys):
    assert main(["platforms", "nope"]) == 2
    assert "no platform 'nope'" in capsys.readouterr().err


def test_closed_platforms_are_listed_as_unverifiable_with_what_is_known():
    from pmtimer_harness.platform.profiles import UNVERIFIABLE

    text = markdown()
    assert "## Closed platforms, not profiled" in text
    for name in ("VMware", "Parallels", "Apple Virtualization framework"):
        assert any(closed.startswith(name) for closed in UNVERIFIABLE) and name in text
    assert not any(name.lower().startswith(("vmware", "parallels", "apple")) for name in PROFILES)
