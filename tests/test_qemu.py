"""The same guests in QEMU: the differential check (``pytest -m differential`` selects these).

QEMU is a real dependency of these tests: `make test` installs it with
apt-get where it can.  Where QEMU cannot be had they are skipped, and say why.
Every portable bundled guest runs on QEMU ``pc`` under TCG; ``q35`` and KVM
run a few short guests (a KVM boot is slow on a nested host); the command line
runs the whole cross product.
"""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.devices.pm_timer import PmTimer
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.suite import bundled_guests
from pmtimer_harness.peers import differential
from pmtimer_harness.peers.differential import PeerSetup, checks, compare, compare_all
from pmtimer_harness.peers.portable import portability
from pmtimer_harness.peers.process import PeerProcess
from pmtimer_harness.peers.qemu import (
    QemuUnavailable,
    accel_missing,
    find_qemu,
    offered_accels,
    qemu_result,
    run_in_qemu,
)

from tests.guests import FINDS_THE_TIMER, bundled, write_guest
from tests.peer_marks import needs_kvm, needs_qemu

pytestmark = pytest.mark.differential


PORTABLE = [guest for guest in bundled_guests() if portability(guest) is None]
SHORT = ["hello.asm", "discovery.asm"]


@pytest.fixture(scope="module")
def portable_in_qemu() -> dict[str, differential.Comparison]:
    """Every portable guest on QEMU pc, three at a time: most wait seconds of real time there (a 24-bit wrap)."""
    # The longest (two wraps) first, so that the others run beside it.
    guests = sorted(PORTABLE, key=lambda guest: guest.name != "overflow_irq.asm")
    return {comparison.guest.name: comparison for comparison in compare_all(guests, [PeerSetup()], jobs=3)}


@needs_qemu
@pytest.mark.parametrize("guest", PORTABLE, ids=[guest.name for guest in PORTABLE])
def test_each_portable_guest_means_the_same_in_qemu(guest, portable_in_qemu):
    comparison = portable_in_qemu[guest.name]
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.peer_run.console


@needs_qemu
@pytest.mark.parametrize("guest", SHORT)
def test_the_same_on_q35(guest):
    comparison = compare(bundled(guest), PeerSetup("qemu", "q35", "tcg"))
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.peer_run.console


@needs_qemu
@needs_kvm
def test_the_same_under_kvm_on_q35():
    comparison = compare(bundled("discovery.asm"), PeerSetup("qemu", "q35", "kvm"))
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.peer_run.console
    assert "24-bit timer at port 0x00000608" in comparison.peer_run.console


@needs_qemu
def test_the_exit_code_comes_back_from_qemu(tmp_path):
    guest = write_guest(tmp_path, "mov al, 'q'\n out 0xE9, al\n mov al, 3\n out 0xF4, al\n")
    run = run_in_qemu(guest, timeout_s=30)
    assert (run.verdict, run.exit_code, run.console) == ("fail", 3, "q")


@needs_qemu
@pytest.mark.parametrize(("write", "code"), [("mov al, 0x80\n out 0xF4, al", 0x80),
                                             ("mov ax, 0x100\n out 0xF4, ax", 0x100)])
def test_an_exit_code_whose_low_bits_are_zero_is_a_fail(tmp_path, write, code):
    # QEMU's status is (code << 1) | 1, cut to 8 bits: 0x80 and 0x100 would read as 0.
    run = run_in_qemu(write_guest(tmp_path, write + "\n hlt\n"), timeout_s=30)
    assert (run.verdict, run.exit_code) == ("fail", code)


def test_without_the_trace_the_status_gives_seven_bits_and_zero_is_not_trusted():
    status_1 = qemu_result(PeerProcess(1, "", 0), [], [])
    assert status_1.exit_code is None and status_1.verdict == "error"
    assert "0x80" in status_1.notes[0]
    status_7 = qemu_result(PeerProcess(7, "", 0), [], [])
    assert (status_7.verdict, status_7.exit_code) == ("fail", 3)
    traced = qemu_result(PeerProcess(1, "", 0), [0x80], [])
    assert (traced.verdict, traced.exit_code) == ("fail", 0x80)


@needs_qemu
def test_a_guest_that_never_ends_is_stopped_at_the_deadline(tmp_path):
    run = run_in_qemu(write_guest(tmp_path, "spin: jmp spin\n"), timeout_s=2)
    assert run.verdict == "timeout"
    assert run.wall_seconds < 10


@needs_qemu
def test_a_console_flood_is_capped(tmp_path):
    guest = write_guest(tmp_path, "mov al, 'x'\nflood: out 0xE9, al\n jmp flood\n")
    run = run_in_qemu(guest, timeout_s=2)
    assert run.verdict == "timeout"
    assert len(run.console) <= 1 << 20


@needs_qemu
def test_an_interrupted_harness_side_stops_the_peer_at_once(monkeypatch, tmp_path):
    interrupted = SimpleNamespace(result=SimpleNamespace(verdict=Verdict.INTERRUPTED))
    monkeypatch.setattr(differential, "run_guest", lambda *args, **kwargs: interrupted)
    began = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        compare(write_guest(tmp_path, "spin: jmp spin\n"), timeout_s=60)
    assert time.perf_counter() - began < 10


class JumpsBackTimer(PmTimer):
    """Every 1000th read is 100,000 ticks behind: a step back any clock can see."""

    reads = 0

    def read(self, port, width, now_ns):
        self.reads += 1
        value = super().read(port, width, now_ns)
        return (value - 100_000) & self.mask if self.reads % 1000 == 0 else value


@needs_qemu
def test_a_broken_harness_timer_shows_as_a_difference():
    comparison = compare(bundled("monotonic.asm"), timer_model=JumpsBackTimer)
    assert not comparison.agree
    assert ("FAIL", "every step between two reads is forward") in checks(comparison.harness.console)


@needs_qemu
def test_differential_on_the_users_own_folder_as_json(tmp_path, capsys):
    (tmp_path / "own.asm").write_text(FINDS_THE_TIMER)
    write_guest(tmp_path, "mov al, 5\n out 0xF4, al\n hlt\n", name="fails.asm")
    status = main(["differential", str(tmp_path), "--machine", "pc", "--accel", "tcg", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(Path(row["guest"]).name, row["machine"], row["accel"], row["agree"]) for row in rows] == [
        ("fails.asm", "pc", "tcg", True), ("own.asm", "pc", "tcg", True)]
    assert [(row["harness_verdict"], row["peer_verdict"]) for row in rows] == [("fail", "fail"), ("pass", "pass")]
    assert rows[1]["checks"][-2:] == ["PASS: the timer is 24 bits wide", "PASS: the timer is at port 0x608"]


def test_without_kvm_the_rows_are_skipped_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(differential, "kvm_unavailable", lambda: "/dev/kvm does not exist")
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")
    comparison = compare(write_guest(tmp_path, "hlt\n"), PeerSetup("qemu", "pc", "kvm"))
    assert comparison.skipped == "/dev/kvm does not exist"
    assert comparison.as_dict()["agree"] is None


def test_guests_that_need_the_harness_say_why():
    assert "32-bit timer" in portability(bundled("wrap32.asm"))
    assert "bhyve" in portability(bundled("access_bhyve_write.asm"))
    assert portability(bundled("monotonic.asm")) is None
    assert len(PORTABLE) >= 4


def test_without_qemu_the_message_says_how_to_get_it(monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("HARNESS_QEMU", raising=False)
    with pytest.raises(QemuUnavailable, match="apt-get install qemu-system-x86"):
        find_qemu()


def fake_qemu(folder, accelerators, monkeypatch):
    """A qemu-system-x86_64 built with ``accelerators``: it lists them, and a boot records its arguments and passes."""
    program = folder / "fake-qemu"
    listing = "\\n".join(["Accelerators supported in QEMU binary:", *accelerators])
    program.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "-accel help" ]; then printf \'{listing}\\n\'; exit 0; fi\n'
        f'echo "$@" > "{folder}/booted"\n'
        "echo \"memory_region_ops_write cpu 0 mr 0x1 addr 0xf4 value 0x0 size 1 name 'isa-debug-exit'\" >&2\n"
        "exit 1\n"
    )
    program.chmod(0o755)
    monkeypatch.setenv("HARNESS_QEMU", str(program))
    return program


def test_an_accelerator_the_qemu_lacks_is_refused_in_one_line_naming_those_it_has(tmp_path, monkeypatch, capsys):
    program = fake_qemu(tmp_path, ["tcg", "kvm"], monkeypatch)
    assert main(["qemu", str(write_guest(tmp_path, "hlt\n")), "--accel", "hvf"]) == 2
    refusal = f"harness: error: -accel hvf cannot run here: this QEMU ({program}) offers tcg, kvm\n"
    assert capsys.readouterr().err == refusal
    assert not (tmp_path / "booted").exists()


@pytest.mark.parametrize("accel", ["hvf", "whpx"])
def test_macos_and_windows_accelerators_run_where_the_qemu_has_them(tmp_path, monkeypatch, accel):
    fake_qemu(tmp_path, ["tcg", accel], monkeypatch)
    assert main(["qemu", str(write_guest(tmp_path, "hlt\n")), "--accel", accel]) == 0
    assert f"-accel {accel} " in (tmp_path / "booted").read_text()


def test_a_differential_row_on_an_accelerator_the_qemu_lacks_is_skipped_with_what_it_has(tmp_path, monkeypatch):
    program = fake_qemu(tmp_path, ["tcg", "kvm"], monkeypatch)
    comparison = compare(write_guest(tmp_path, "hlt\n"), PeerSetup("qemu", "pc", "whpx"))
    assert comparison.skipped == f"this QEMU ({program}) offers tcg, kvm"


def test_a_qemu_that_does_not_list_its_accelerators_is_left_to_decide(tmp_path):
    program = tmp_path / "old-qemu"
    program.write_text("#!/bin/sh\necho 'qemu: -accel help: invalid option' >&2\nexit 1\n")
    program.chmod(0o755)
    assert offered_accels(str(program)) is None
    assert accel_missing("hvf", str(program)) is None


def test_a_differential_tries_tcg_and_this_hosts_accelerator_unless_told():
    from pmtimer_harness.frontends.cli import build_parser
    from pmtimer_harness.peers.qemu import DEFAULT_ACCELS, HOST_ACCEL

    args = build_parser("differential").parse_args(["differential"])
    assert args.accel == list(DEFAULT_ACCELS) == ["tcg", HOST_ACCEL]  # kvm on Linux: no rows for hvf and whpx
