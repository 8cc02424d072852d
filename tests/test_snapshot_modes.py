"""Snapshots of protected-mode and long-mode CPUs: the hidden state comes back too."""

import subprocess

import pytest
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.snapshot import load, take
from pmtimer_harness.core.snapshot_format import decode, encode

from tests.guests import run_source
from tests.test_machine import PROTECTED_MODE_SCI


def without_hidden_state(data):
    """The snapshot as an older harness wrote it: no segment caches in the ``cpu`` chunk."""
    from pmtimer_harness.core.segment_cache import MODE_BITS, SEGMENT_ORDER
    from pmtimer_harness.core.snapshot import _read_records, _records
    from pmtimer_harness.core.snapshot_format import Chunk

    hidden = {f"{segment}.{part}" for segment in SEGMENT_ORDER for part in ("base", "limit", "flags")}
    hidden |= {f"mode.{bit}" for bit in MODE_BITS}
    chunks = []
    for chunk in decode(data):
        if chunk.name == "cpu":
            values = {name: value for name, value in _read_records(chunk.payload, "cpu").items() if name not in hidden}
            chunk = Chunk("cpu", 1, _records(values))
        chunks.append(chunk)
    return encode(chunks)


def split_in_process(machine_factory, save_at, drop_hidden=False):
    whole = machine_factory().run()
    machine = machine_factory()
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take(stopped))
    machine.save_at(save_at)
    machine.run()
    data = saved[0]
    if drop_hidden:
        data = without_hidden_state(data)
    return whole, load(data).run()


def raw_machine(tmp_path, bits, source, **options):
    path = tmp_path / f"raw{bits}.asm"
    path.write_text(f"bits {bits}\n{source}")
    subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "raw.bin"), str(path)], check=True)
    image = (tmp_path / "raw.bin").read_bytes()

    def factory():
        machine = Machine(MachineConfig(mode=bits, **options))
        machine.load(image)
        return machine

    return factory


LOOP_THEN_EXIT = """
        mov ecx, 2000
again:  mov dx, 0x408
        in eax, dx
        add edi, eax
        dec ecx
        jnz again
        mov eax, edi
        and al, 0
        out 0xF4, al
"""


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("drop_hidden", [False, True])
def test_flat_32_and_64_bit_machines_split_cleanly(tmp_path, bits, drop_hidden):
    factory = raw_machine(tmp_path, bits, LOOP_THEN_EXIT, load_address=0x1000)
    whole, resumed = split_in_process(factory, 3000, drop_hidden)
    assert (resumed.verdict, resumed.instructions, resumed.virtual_ns) == (
        whole.verdict, whole.instructions, whole.virtual_ns)


@pytest.mark.parametrize("drop_hidden", [False, True])
def test_a_real_mode_guest_in_protected_mode_with_an_idt_splits_cleanly(tmp_path, drop_hidden):
    body = "%define GATE_TYPE 0x8E\n" + PROTECTED_MODE_SCI
    guest = run_source(tmp_path, body, "--timer-width", "24").guest

    def factory():
        from pmtimer_harness.tools.guest import load_guest, read_header
        from pmtimer_harness.tools.options import header_parser, machine_config

        config = machine_config(read_header(guest).options, header_parser().parse_args(["--timer-width", "24"]))
        machine = Machine(config)
        machine.load(load_guest(guest, config).image)
        return machine

    # Save after the switch to protected mode, before the HLT that waits for the SCI.
    whole, resumed = split_in_process(factory, 40, drop_hidden)
    assert (resumed.verdict, resumed.exit_code, resumed.virtual_ns) == (whole.verdict, 0, whole.virtual_ns)


# Big real mode: DS keeps a base of 0x20000 from a descriptor after the guest
# returns to real mode and wipes its GDT.  Only the saved segment cache can
# bring that base back: re-reading the selector gives 0x10 x 16 = 0x100.
BIG_REAL_MODE = """
        org 0x7c00
        cli
        lgdt [gdt_descriptor]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        mov ax, 0x10
        mov ds, ax              ; base 0x20000 from the descriptor
        and al, 0
        mov eax, cr0
        and al, 0xFE
        mov cr0, eax            ; back to real mode; DS keeps its base
        xor eax, eax
        mov [cs:gdt + 16], eax  ; wipe the descriptor (CS-relative: DS points elsewhere now)
        mov [cs:gdt + 20], eax
        mov ecx, 3000
again:  mov dx, 0x408
        in eax, dx
        add [0x10], eax         ; linear 0x20010
        dec ecx
        jnz again
        mov eax, [0x10]
        mov [cs:result], eax
        mov al, 0
        out 0xF4, al
result: dd 0
        align 8
gdt:    dq 0, 0, 0x00009202_0000FFFF
gdt_descriptor:
        dw 23
        dd gdt
"""


def test_a_segment_base_no_descriptor_holds_any_more_comes_back(tmp_path):
    factory = raw_machine(tmp_path, 16, BIG_REAL_MODE, load_address=0x7C00)
    reference = factory()
    whole = reference.run()
    machine = factory()
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take(stopped))
    machine.save_at(2000)
    machine.run()
    resumed_machine = load(saved[0])
    resumed = resumed_machine.run()
    assert resumed_machine.warnings == []
    assert (resumed.verdict, resumed.instructions, resumed.virtual_ns) == (whole.verdict, whole.instructions,
                                                                         whole.virtual_ns)
    total = bytes(reference.uc.mem_read(0x20010, 4))
    assert total != bytes(4) and bytes(resumed_machine.uc.mem_read(0x20010, 4)) == total


X87_AND_SSE = """
        fninit
        fld1
        fldpi
        pxor xmm1, xmm1
        mov ecx, 2000
again:  mov dx, 0x408
        in eax, dx
        fadd st0, st1           ; x87 state across the save point
        movd xmm0, eax
        paddd xmm1, xmm0        ; and SSE state
        dec ecx
        jnz again
        fistp dword [0x2000]
        movdqu [0x2010], xmm1
        mov al, 0
        out 0xF4, al
"""


def test_x87_and_sse_state_comes_back(tmp_path):
    factory = raw_machine(tmp_path, 32, X87_AND_SSE, load_address=0x1000)
    reference = factory()
    reference.run()
    machine = factory()
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take(stopped))
    machine.save_at(3000)
    machine.run()
    resumed = load(saved[0])
    assert resumed.run().verdict.value == "pass"
    expected = bytes(reference.uc.mem_read(0x2000, 0x20))
    assert expected[:4] != bytes(4) and bytes(resumed.uc.mem_read(0x2000, 0x20)) == expected
