"""64-bit guests and non-canonical addresses: a real CPU raises #GP; the harness ends the run at once.

Unicorn runs long mode without page tables, where an address keeps only its
low 52 bits: a jump to 0x8000000000000000 would run the RAM at 0, and a store
there would land in it.  The harness gives 64-bit guests Unicorn's virtual TLB
(``core/cpu.py``), so such an address is outside guest RAM: the access faults,
and the report names the address and says it is not canonical.
"""

import struct

import pytest
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.cpu import is_canonical
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.result import Verdict

LOAD = 0x1000
NON_CANONICAL = (0x8000_0000_0000_0000, 0x0000_8000_0000_0000, 0xFFFF_7FFF_FFFF_F000, 0x8000_0000_0000_1000)
CLOCKS = [{"clock": "virtual"}, {"clock": "host"}, {"dispatch": "reference"}]


def mov_rax(address: int) -> bytes:
    return b"\x48\xb8" + struct.pack("<Q", address)


def run64(code: bytes, **options: object):
    options.setdefault("timeout", 10)
    machine = Machine(MachineConfig(mode=64, load_address=LOAD, **options))
    machine.load(code + b"\xf4")
    return machine.run()


@pytest.mark.parametrize("address", NON_CANONICAL)
@pytest.mark.parametrize("options", CLOCKS)
def test_a_jump_to_a_non_canonical_address_faults_at_the_jump_target(address, options):
    result = run64(mov_rax(address) + b"\xff\xe0", **options)  # jmp rax
    assert result.verdict == Verdict.ERROR
    assert result.report.address == address
    assert f"fetch at {address:#x}" in result.report.details
    assert "not canonical: a real CPU raises #GP" in result.report.details
    if options.get("clock") != "host":
        assert result.instructions == 2  # the MOV and the JMP retired; nothing ran at the target


@pytest.mark.parametrize(
    ("name", "access", "kind"),
    [("store", b"\xc6\x00\x55", "write"), ("load", b"\x8a\x18", "read"), ("push", b"\x48\x89\xc4\x50", "write")],
)
@pytest.mark.parametrize("options", CLOCKS)
def test_a_data_access_at_a_non_canonical_address_faults_and_leaves_ram_alone(name, access, kind, options):
    address = 0x8000_0000_0000_1000  # its low bits name the guest's own code
    result = run64(mov_rax(address) + access, **options)
    assert result.verdict == Verdict.ERROR
    assert f"{kind} at {address - 8 if name == 'push' else address:#x}" in result.report.details
    assert "not canonical" in result.report.details


def test_a_canonical_address_outside_ram_is_an_ordinary_fault():
    result = run64(mov_rax(0xFFFF_8000_0000_0000) + b"\x8a\x18")
    assert result.verdict == Verdict.ERROR
    assert "read at 0xffff800000000000" in result.report.details
    assert "canonical" not in result.report.details


@pytest.mark.parametrize(
    ("address", "canonical"),
    [(0, True), (0x7FFF_FFFF_FFFF, True), (0x8000_0000_0000, False), (0xFFFF_7FFF_FFFF_FFFF, False),
     (0xFFFF_8000_0000_0000, True), (0xFFFF_FFFF_FFFF_FFFF, True), (1 << 63, False)],
)
def test_canonical_means_bits_63_to_47_equal(address, canonical):
    assert is_canonical(address) is canonical
