"""Platforms as data: the listing, the generated docs, the matrix and per-platform expectations."""

import json
from pathlib import Path

from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.matrix import run_matrix
from pmtimer_harness.platform.listing import markdown
from pmtimer_harness.platform.profiles import PROFILES
from pmtimer_harness.tools.guest import platform_expectations

from tests.guests import bundled

DOCS = Path(__file__).resolve().parent.parent / "docs" / "platforms.md"
REQUIRED = {"acpi", "bhyve", "qemu", "qemu-ovmf", "xen", "virtualbox", "hyperv", "cloud-hypervisor", "bochs", "piix4",
            "no-pm-timer", "intel-pch", "amd-fch", "width-mismatch"}


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
