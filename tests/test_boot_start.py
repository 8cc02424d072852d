"""A guest boots on a peer where and as its header says: ``--mode 32 --load-address`` on QEMU, Bochs and in images.

The boot loader (``harness/peers/qemu_loader.asm``) reads the guest to a
buffer at 0x10000 and copies it to its load address, in real mode or after
switching to flat 32-bit protected mode; what it cannot start is refused with
the reason, by ``image`` and as a skipped ``differential`` row.
"""

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.peers import differential
from pmtimer_harness.peers.differential import PeerSetup, compare

from tests.peer_marks import needs_bochs, needs_qemu

# Runs only as 32-bit code at the address it was assembled for; its last bytes are sectors past the first.
PROTECTED_GUEST = """\
        bits 32
        org LOAD_ADDRESS
        %include "report.inc"
guest_main:
        call    .here
.here:  pop     eax                     ; where the code runs
        cmp     eax, .here
        CHECK   e, "the guest runs where it was assembled"
        cmp     dword [signature], 0x600DF00D
        CHECK   e, "its last sector was copied whole"
        push    dword 0x5EC0DE
        pop     ebx
        cmp     ebx, 0x5EC0DE
        CHECK   e, "the stack holds what is pushed"
        FINISH
        times 40000 db 0x90
signature: dd 0x600DF00D
"""
REAL_MODE_GUEST = """\
        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
guest_main:
        cmp     sp, 0x1000              ; LOW_REAL_MODE's address, whatever NASM was told
        CHECK   e, "SP starts at the load address the header names"
        cmp     dl, 0x80
        CHECK   e, "DL is the boot drive"
        cmp     dword [signature], 0x600DF00D
        CHECK   e, "its last sector was copied whole"
        FINISH
        times 30000 db 0x90
signature: dd 0x600DF00D
"""
ABOVE_1_MIB = "; harness: --mode 32 --load-address 0x100000 --memory 2M\n"
# Above the loader's buffer and overlapping it: the copy must run from the last byte down.
OVER_THE_BUFFER = "; harness: --mode 32 --load-address 0x18000\n"
LOW_REAL_MODE = "; harness: --load-address 0x1000\n"




def _guest(tmp_path, header, body, name="guest.asm"):
    path = tmp_path / name
    path.write_text(header + body)
    return path


@needs_qemu
@pytest.mark.differential
@pytest.mark.parametrize(("header", "body"), [
    (ABOVE_1_MIB, PROTECTED_GUEST), (OVER_THE_BUFFER, PROTECTED_GUEST), (LOW_REAL_MODE, REAL_MODE_GUEST),
], ids=["32-bit-at-1MiB", "32-bit-over-the-buffer", "16-bit-at-0x1000"])
def test_a_guest_starts_on_qemu_where_and_as_its_header_says(tmp_path, header, body):
    comparison = compare(_guest(tmp_path, header, body), PeerSetup(), timeout_s=20)
    assert comparison.harness.verdict.value == "pass", comparison.harness.console
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.peer_run.console


@needs_bochs
@pytest.mark.differential
def test_a_32_bit_guest_above_1_mib_starts_in_bochs(tmp_path):
    comparison = compare(_guest(tmp_path, ABOVE_1_MIB, PROTECTED_GUEST), PeerSetup("bochs", "i440fx", "emulated"),
                         timeout_s=20)
    assert comparison.agree and comparison.peer_run.verdict == "pass", comparison.peer_run.console


def test_the_image_says_where_and_how_the_guest_starts(tmp_path, capsys):
    guest = _guest(tmp_path, ABOVE_1_MIB, PROTECTED_GUEST)
    assert main(["image", str(guest), "-o", str(tmp_path / "disk.img")]) == 0
    assert "started in 32-bit protected mode at 0x100000" in capsys.readouterr().out


@pytest.mark.parametrize(("header", "body", "message"), [
    ("; harness: --mode 64 --load-address 0x1000\n", "bits 64\nhlt\n",
     "starts in 64-bit mode (--mode 64); the boot loader starts a guest in 16-bit real mode or 32-bit"),
    ("; harness: --load-address 0x700\n", "hlt\n", "below 0x800 are the interrupt vectors, the BIOS data"),
    ("; harness: --mode 32 --load-address 0x9F000\n", "times 4000 hlt\n", "where a PC has the EBDA, video memory"),
    ("; harness: --mode 32 --load-address 0x1000000 --memory 32M\n", "hlt\n", "ends past 16 MiB"),
])
def test_a_start_the_loader_cannot_give_is_refused_with_the_reason(tmp_path, capsys, header, body, message):
    guest = _guest(tmp_path, header, "org LOAD_ADDRESS\n" + body)
    assert main(["image", str(guest), "-o", str(tmp_path / "disk.img")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "disk.img").exists()


def test_a_64_bit_guest_is_a_skipped_row_and_nothing_compared_is_status_77(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")  # no QEMU runs
    guest = _guest(tmp_path, "; harness: --mode 64 --load-address 0x1000\n", "bits 64\norg LOAD_ADDRESS\nhlt\n")
    assert main(["differential", str(guest), "--machine", "pc", "--accel", "tcg"]) == 77
    out, err = capsys.readouterr()
    assert "skipped  guest.asm starts in 64-bit mode" in out
    assert err.splitlines()[-1] == "harness: note: every run was skipped; nothing was compared"


def test_a_differential_whose_every_row_was_skipped_exits_77(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")  # no QEMU runs
    guest = _guest(tmp_path, "; portable: no, needs the harness\n", "org LOAD_ADDRESS\nhlt\n")
    assert main(["differential", str(guest), "--machine", "pc,q35", "--accel", "tcg", "--json"]) == 77
    out, err = capsys.readouterr()
    assert '"skipped": "needs the harness"' in out and "nothing was compared" in err
