"""A platform's fingerprint: the probe's lines read back, two fingerprints compared, and the real peers' own.

The peers' expected fingerprints are typed from REFERENCE.md ("What the real
peers showed": QEMU 7.2 and Bochs 2.7 run here), not read from the profiles.
Each peer configuration boots the probe once per test process
(``peer_fingerprint`` is cached); the harness runs it in-process.
"""

import functools
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands.fingerprint import of_peer, of_platform
from pmtimer_harness.peers.bochs import BochsUnavailable, find_bochs
from pmtimer_harness.peers.qemu import QemuUnavailable, find_qemu, kvm_unavailable
from pmtimer_harness.platform.fingerprint import (
    FIELDS,
    MISSING,
    NO_TIMER,
    NOT_REACHED,
    STOPPED,
    Fingerprint,
    compare,
    format_comparison,
    parse,
)
from pmtimer_harness.platform.profiles import ACPI_MODE, PROFILES, FadtShape

# --- reading the probe's lines ------------------------------------------------------

CONSOLE = """PASS: the FADT is found through the RSDP and the RSDT
INFO: fadt_revision=1
INFO: xsdt_fadt_revision=none
INFO: pm_tmr_blk=0x00000608
INFO: not_a_field=7
INFO: the FADT puts a 24-bit timer at port 0x608
"""


def test_fields_are_read_back_with_numbers_in_short_hex():
    fields = parse(CONSOLE, "test").fields
    assert list(fields) == list(FIELDS)
    assert (fields["fadt_revision"], fields["xsdt_fadt_revision"], fields["pm_tmr_blk"]) == ("1", "none", "0x608")
    assert "not_a_field" not in fields


def test_a_field_never_printed_is_missing_when_the_run_gives_no_reason():
    assert parse(CONSOLE, "test").fields["write4"] == MISSING


def test_the_field_a_platform_stopped_at_says_so_and_those_after_it_were_not_reached():
    console = CONSOLE + "INFO: tmr_en_readback=1\nINFO: read1_at_0="  # the line the refused read cut short
    fields = parse(console, "test", stopped=True).fields
    assert fields["read1_at_0"] == STOPPED  # the field after the last one printed
    assert fields["read1_at_1"] == NOT_REACHED and fields["write4"] == NOT_REACHED
    assert fields["pm_tmr_len"] == MISSING  # a gap before it is not the stop


def test_without_a_timer_the_reads_are_no_timer():
    fields = parse(CONSOLE + "INFO: timer_port=none\n", "test").fields
    assert fields["read1_at_0"] == NO_TIMER and fields["write4"] == NO_TIMER
    assert fields["smi_cmd"] == MISSING  # not a timer field: the probe should have printed it


# --- comparing two -----------------------------------------------------------------------


def fingerprint(source, **changed):
    fields = dict.fromkeys(FIELDS, "0")
    fields.update(changed)
    return Fingerprint(source, fields)


def test_a_comparison_names_each_field_that_differs_and_counts_those_that_agree():
    first, second = fingerprint("a", read2_at_1="zero"), fingerprint("b", read2_at_1="split", write4="ignored")
    differing = [row.name for row in compare(first, second) if not row.agree]
    assert differing == ["read2_at_1", "write4"]
    text = format_comparison(first, second)
    assert f"{len(FIELDS) - 2} of {len(FIELDS)} fields agree" in text
    assert [line.split()[0] for line in text.splitlines() if line.endswith("differs")] == differing


def saved(tmp_path, name, fingerprint_):
    path = tmp_path / name
    path.write_text(json.dumps(fingerprint_.as_dict()))
    return str(path)


def test_compare_exits_0_when_every_field_agrees_and_1_when_one_differs(tmp_path, capsys):
    same = saved(tmp_path, "a.json", fingerprint("a"))
    assert main(["fingerprint", "--compare", same, saved(tmp_path, "b.json", fingerprint("b"))]) == 0
    assert main(["fingerprint", "--compare", same, saved(tmp_path, "c.json", fingerprint("c", write4="x"))]) == 1
    assert "write4" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "said"), [
    ("{not json", "not JSON"),
    ('{"fields": []}', "no \"fields\" object"),
    ('{"fields": {"fadt_revision": "1"}}', "field xsdt_fadt_revision is missing"),
])
def test_a_file_that_is_not_a_saved_fingerprint_is_one_line_and_status_2(tmp_path, capsys, text, said):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    assert main(["fingerprint", "--compare", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1


@pytest.mark.parametrize("spec", ["qemu:pc", "qemu:pc:warp", "bochs:uefi", "xen:hvm:pv"])
def test_a_peer_that_is_not_one_is_a_usage_error(capsys, spec):
    assert main(["fingerprint", "--compare", spec, "acpi"]) == 2
    assert "is not a peer" in capsys.readouterr().err


def test_machine_and_accel_without_peer_qemu_are_a_usage_error(capsys):
    assert main(["fingerprint", "--platform", "qemu", "--accel", "kvm"]) == 2
    assert "--peer qemu" in capsys.readouterr().err


# --- the probe in the harness ----------------------------------------------------------------


def test_the_harness_qemu_profile_answers_every_read(capsys):
    assert main(["fingerprint", "--platform", "qemu", "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)["fields"]
    assert (fields["pm_tmr_blk"], fields["timer_port"], fields["tmr_val_ext"]) == ("0x608", "0x608", "0")
    assert fields["read1_at_0"] == "low-bytes"
    assert fields["write4"] == "ignored"


def test_bhyve_stops_the_probe_at_its_first_narrow_read():
    fields = of_platform("bhyve", 30).fields
    assert (fields["tmr_val_ext"], fields["tmr_en_readback"]) == ("1", "0")  # pm1_enable_handler drops TMR_EN
    assert fields["read1_at_0"] == STOPPED and fields["write4"] == NOT_REACHED


def test_cloud_hypervisor_timer_is_found_through_x_pm_tmr_blk_alone():
    fields = of_platform("cloud-hypervisor", 30).fields
    assert (fields["pm_tmr_blk"], fields["x_pm_tmr_blk"], fields["timer_port"]) == ("0x0", "0x608", "0x608")
    assert fields["tmr_sts_at_handover"] == "none"  # no PM1 block
    assert fields["fadt_revision"] == "none"  # the XSDT alone
    assert (fields["read2_at_0"], fields["read4_at_1"]) == ("zero", "low-bytes")  # KVM zeroed the data


def test_a_platform_without_a_timer_has_no_timer_fields():
    fields = of_platform("no-pm-timer", 30).fields
    assert (fields["timer_port"], fields["read1_at_0"], fields["write4"]) == ("none", NO_TIMER, NO_TIMER)


# --- the real peers: each booted once ----------------------------------------------------------------


def _missing(find, error):
    try:
        find()
    except error as reason:
        return str(reason)
    return None


def unavailable(configuration):
    """Why the peer configuration cannot run here, or None."""
    peer, _machine, accel = configuration
    if peer == "bochs":
        return _missing(find_bochs, BochsUnavailable)
    return _missing(find_qemu, QemuUnavailable) or (kvm_unavailable() if accel == "kvm" else None)


def peer_fingerprint(configuration):
    """The peer's fingerprint, taken once per test process (a KVM boot takes seconds on a nested host)."""
    reason = unavailable(configuration)
    if reason is not None:
        pytest.skip(reason)
    return every_peer_fingerprint()[configuration].result()


@functools.cache
def every_peer_fingerprint() -> dict:
    """Every available peer's fingerprint, the boots side by side: each is a process that mostly waits."""
    pool = ThreadPoolExecutor(max_workers=len(CONFIGURATIONS))
    taken = {configuration: pool.submit(of_peer, *configuration, timeout_s=120)
             for configuration in CONFIGURATIONS if unavailable(configuration) is None}
    pool.shutdown(wait=False)
    return taken


QEMU_PC_TCG = ("qemu", "pc", "tcg")
QEMU_Q35_TCG = ("qemu", "q35", "tcg")
QEMU_PC_KVM = ("qemu", "pc", "kvm")
QEMU_Q35_KVM = ("qemu", "q35", "kvm")
BOCHS = ("bochs", "i440fx", "emulated")
# Each peer configuration and the profile that stands for it.
PROFILE_OF = {QEMU_PC_TCG: "qemu", QEMU_Q35_TCG: "qemu-q35", QEMU_PC_KVM: "qemu-kvm", QEMU_Q35_KVM: "qemu-q35-kvm",
              BOCHS: "bochs"}
CONFIGURATIONS = list(PROFILE_OF)


def reads(one_byte, two_bytes, four_bytes):
    """The read fields: one class for 1-byte reads at +0..+3, four for 2-byte reads, three for 4-byte at +1..+3."""
    fields = {f"read1_at_{offset}": one_byte for offset in range(4)}
    fields.update({f"read2_at_{offset}": value for offset, value in enumerate(two_bytes)})
    fields.update({f"read4_at_{offset}": value for offset, value in enumerate(four_bytes, start=1)})
    return fields


# REFERENCE.md, "What the real peers showed".  "split" is its "split pieces" and "pieces padded
# with 0xFF": under KVM an unaligned read is taken apart, a piece past the timer reading 0xFF.
TCG_READS = reads("low-bytes", ("low-bytes", "zero", "low-bytes", "zero"), ("zero",) * 3)
KVM_READS = reads("low-bytes", ("low-bytes", "split", "low-bytes", "split"), ("split",) * 3)
# SMI_CMD set: SeaBIOS (SMM under TCG) and Bochs leave the switch to ACPI mode to the OS.
LEGACY_HANDOVER = {"sci_en_at_handover": "0"}
ACPI_HANDOVER = {"smi_cmd": "0x0", "sci_en_at_handover": "1"}
TIMER_0x608 = {"pm_tmr_blk": "0x608", "pm_tmr_len": "4", "tmr_val_ext": "0", "timer_port": "0x608"}
PC_FADT = {"fadt_revision": "1", "x_fields": "no"}
Q35_FADT = {"fadt_revision": "3", "x_fields": "yes", "x_pm_tmr_blk": "0x608", "x_pm_tmr_blk_access_size": "0"}
DOCUMENTED = {
    QEMU_PC_TCG: {**PC_FADT, **TIMER_0x608, **LEGACY_HANDOVER, "tmr_sts_at_handover": "1", **TCG_READS},
    QEMU_Q35_TCG: {**Q35_FADT, **TIMER_0x608, **LEGACY_HANDOVER, "tmr_sts_at_handover": "1", **TCG_READS},
    QEMU_PC_KVM: {**PC_FADT, **TIMER_0x608, **ACPI_HANDOVER, "tmr_sts_at_handover": "1", **KVM_READS},
    QEMU_Q35_KVM: {**Q35_FADT, **TIMER_0x608, **ACPI_HANDOVER, "tmr_sts_at_handover": "1", **KVM_READS},
    BOCHS: {"fadt_revision": "1", "x_fields": "no", "pm_tmr_blk": "0xb008", "tmr_val_ext": "0", "smi_cmd": "0xb2",
            **LEGACY_HANDOVER, "tmr_sts_at_handover": "0", **reads("all-ones", ("all-ones",) * 4, ("all-ones",) * 3)},
}
for documented in DOCUMENTED.values():
    documented["write4"] = "ignored"


@pytest.mark.differential
@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids="-".join)
def test_the_real_peer_shows_what_reference_documents(configuration):
    fields = peer_fingerprint(configuration).fields
    expected = DOCUMENTED[configuration]
    assert {name: fields[name] for name in expected} == expected
    assert fields["smi_cmd"] != "0x0" or configuration[2] == "kvm"  # TCG (SMM) and Bochs name an SMI port


# Configurations whose profile's fingerprint equals the real one, every field: all of them.
CONFORMING = CONFIGURATIONS


@pytest.mark.differential
@pytest.mark.parametrize("configuration", CONFORMING, ids="-".join)
def test_the_profile_fingerprint_equals_the_real_peers(configuration):
    real = peer_fingerprint(configuration)
    ours = of_platform(PROFILE_OF[configuration], 60)
    assert dict(ours.fields) == dict(real.fields), format_comparison(ours, real)


@pytest.mark.differential
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_tmr_sts": None}, "tmr_sts_at_handover"),  # TMR_STS at the first toggle, not at reset
        ({"handover": ACPI_MODE}, "sci_en_at_handover"),  # SeaBIOS under TCG hands over in legacy mode
        ({"fadt": FadtShape()}, "fadt_revision"),  # the default FADT, not QEMU pc's revision 1
    ],
)
def test_a_profile_broken_on_purpose_no_longer_equals_the_real_peer(monkeypatch, change, field):
    real = dict(peer_fingerprint(QEMU_PC_TCG).fields)
    monkeypatch.setitem(PROFILES, "qemu", PROFILES["qemu"].replace(**change))
    ours = dict(of_platform("qemu", 60).fields)
    assert ours[field] != real[field]
