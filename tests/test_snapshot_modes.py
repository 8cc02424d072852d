"""Snapshots of protected-mode and long-mode CPUs: the hidden state comes back too."""

import subprocess

import pytest
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.snapshot import load, take
from pmtimer_harness.core.snapshot_format import decode, encode

from tests.guests import run_source
from tests.test_machine import PROTECTED_MODE_SCI


def split_in_process(machine_factory, save_at, drop_context=False):
    whole = machine_factory().run()
    machine = machine_factory()
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take(stopped))
    machine.save_at(save_at)
    machine.run()
    data = saved[0]
    if drop_context:
        data = encode([chunk for chunk in decode(data) if chunk.name != "cpu/unicorn-context"])
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
@pytest.mark.parametrize("drop_context", [False, True])
def test_flat_32_and_64_bit_machines_split_cleanly(tmp_path, bits, drop_context):
    factory = raw_machine(tmp_path, bits, LOOP_THEN_EXIT, load_address=0x1000)
    whole, resumed = split_in_process(factory, 3000, drop_context)
    assert (resumed.verdict, resumed.instructions, resumed.virtual_ns) == (
        whole.verdict, whole.instructions, whole.virtual_ns)


@pytest.mark.parametrize("drop_context", [False, True])
def test_a_real_mode_guest_in_protected_mode_with_an_idt_splits_cleanly(tmp_path, drop_context):
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
    whole, resumed = split_in_process(factory, 40, drop_context)
    assert (resumed.verdict, resumed.exit_code, resumed.virtual_ns) == (whole.verdict, 0, whole.virtual_ns)
