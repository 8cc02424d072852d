"""The compiled instruction decoder (harness/core/insn_decode.c) against capstone, the reference.

Wherever capstone decodes an instruction, the compiled decoder gives it the
same length, the same kind (port, RDTSC, RDTSCP, HLT, other) and the same
flags (may access memory, ends a block), with two exceptions where capstone
and the CPU that Unicorn runs part (``capstone_misreads``).  Where they part,
Unicorn is the judge: the instruction count must agree with its translation.

``make test`` runs a short, fixed profile; ``make fuzz`` (HARNESS_FUZZ=long)
runs fifty times as many random examples.
"""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import unicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pmtimer_harness.core import blocks
from pmtimer_harness.core.blocks import (
    CAPSTONE,
    COMPILED,
    HLT,
    OTHER,
    PORT,
    RDTSC,
    RDTSCP,
    decode_block,
    decode_block_compiled,
)
from pmtimer_harness.core.cpu import disassembler
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.native_dispatch import NativeDispatch
from pmtimer_harness.frontends.suite import bundled_guests
from pmtimer_harness.tools.guest import load_guest
from pmtimer_harness.tools.runner import guest_config

REPO = Path(__file__).resolve().parent.parent
LONG = os.environ.get("HARNESS_FUZZ") == "long"
COMMON = {"deadline": None, "database": None, "suppress_health_check": list(HealthCheck)}
settings.register_profile("short", derandomize=True, **COMMON)  # the same examples every time
settings.register_profile("long", **COMMON)
settings.load_profile("long" if LONG else "short")

pytestmark = pytest.mark.skipif(COMPILED is CAPSTONE, reason="the C extension (with its decoder) is not built")

MODES = (16, 32, 64)
LEGACY_PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})
NEAR_BRANCHES = frozenset({0xE8, 0xE9, 0xC2})  # CALL rel, JMP rel, RET imm16 (and 0F 80-8F, Jcc rel)


def examples(short: int) -> int:
    return short * 50 if LONG else short


def capstone_misreads(code: bytes, bits: int) -> str:
    """Why capstone 5's reading of the instruction at the start of ``code`` is not the CPU's; "" if it is.

    - "length": in 64-bit code, a 66 prefix on a near branch or RET imm16.
      QEMU (Unicorn) takes a 16-bit operand, as AMD does (``66 e8 rel16``: 4
      bytes); capstone reads rel32 for CALL and JMP, rel16 or rel32 for Jcc
      depending on the displacement, and a 4-byte immediate for ``66 48 c2``.
    - "prefix": F2 A5 and F2 A7 (REPNE MOVSD/CMPSD), whose prefix capstone
      leaves out of its text (it takes them for SSE's MOVSD/CMPSD), so its text
      shows no repeated string instruction, which ends a block.
    """
    index, prefixes = 0, set()
    while index < len(code) and (code[index] in LEGACY_PREFIXES or (bits == 64 and code[index] >> 4 == 4)):
        prefixes.add(code[index])
        index += 1
    opcode = code[index : index + 2]
    jcc = opcode[:1] == b"\x0f" and opcode[1:2] and 0x80 <= opcode[1] <= 0x8F
    branch = opcode[:1] and (opcode[0] in NEAR_BRANCHES or jcc)
    if bits == 64 and 0x66 in prefixes and branch:
        return "length"
    if 0xF2 in prefixes and opcode[:1] in (b"\xa5", b"\xa7"):
        return "prefix"
    return ""


def capstone_first(code: bytes, bits: int) -> blocks.Instruction | None:
    for address, size, mnemonic, operands in disassembler(bits).disasm_lite(code, 0x1000, 1):
        return blocks.described(address, size, f"{mnemonic} {operands}".strip(), mnemonic)
    return None


def compiled_first(code: bytes, bits: int) -> blocks.Instruction | None:
    instructions = decode_block_compiled(code, 0x1000, bits).instructions
    return instructions[0] if instructions else None


def assert_agrees_with_capstone(code: bytes, bits: int) -> None:
    reference = capstone_first(code, bits)
    misread = capstone_misreads(code, bits)
    if reference is None or misread == "length":
        return
    ours = compiled_first(code, bits)
    assert ours is not None, f"{bits}-bit {code.hex(' ')}: capstone decodes {reference.text!r}, we do not"
    said = f"{bits}-bit {code[:reference.size].hex(' ')} ({reference.text})"
    assert (ours.size, ours.kind) == (reference.size, reference.kind), said
    if not misread:
        assert ours.flags == reference.flags, said


# --- random bytes, and every opcode of every map ---------------------------------------------

# Leads that random bytes seldom reach: prefixes, the escapes, VEX, EVEX, 3DNow!.
LEADS = [
    b"", b"\x66", b"\x67", b"\xf3", b"\xf2", b"\xf0", b"\x2e", b"\x48", b"\x41", b"\x66\x48", b"\x48\x66",
    b"\x0f", b"\x0f\x38", b"\x0f\x3a", b"\x0f\x01", b"\x0f\x0f", b"\xc4\xe1", b"\xc4\xe2", b"\xc4\xe3", b"\xc5",
    b"\x62\xf1", b"\x62\xf2", b"\x62\xf3", b"\xd9", b"\xf6", b"\xf7", b"\xff",
]


@settings(max_examples=examples(600))
@given(bits=st.sampled_from(MODES), lead=st.sampled_from(LEADS), rest=st.binary(min_size=1, max_size=16))
def test_random_bytes_decode_as_capstone_decodes_them(bits, lead, rest):
    assert_agrees_with_capstone(lead + rest, bits)


# After the opcode: a ModRM byte for each addressing form (disp8, disp32 through SIB base 5, register),
# then bytes enough for any displacement and immediate.
MODRM_FORMS = (b"\x00", b"\x04\x25", b"\x05", b"\x45", b"\x84\x25", b"\xc0", b"\xf9", b"\x06")
FILLER = bytes(range(0x11, 0x21))


@pytest.mark.parametrize("bits", MODES)
@pytest.mark.parametrize("escape", [b"", b"\x0f", b"\x0f\x38", b"\x0f\x3a"], ids=["one-byte", "0f", "0f38", "0f3a"])
def test_every_opcode_of_every_map_decodes_as_capstone_decodes_it(bits, escape):
    prefixes = [b"", b"\x66", b"\x67", b"\xf3", b"\xf2"] + ([b"\x48"] if bits == 64 else [])
    for prefix in prefixes:
        for opcode in range(256):
            for modrm in MODRM_FORMS:
                assert_agrees_with_capstone(prefix + escape + bytes([opcode]) + modrm + FILLER, bits)


# --- the tricky encodings, each with its length as the CPU takes it -----------------------------

TRICKY = [
    # bits, bytes, length, kind                                   assembly
    (16, "66 b8 44 33 22 11", 6, OTHER),                          # mov eax, 0x11223344
    (32, "66 b8 22 11", 4, OTHER),                                # mov ax, 0x1122
    (64, "48 b8 88 77 66 55 44 33 22 11", 10, OTHER),             # mov rax, imm64
    (64, "48 66 b8 22 11", 5, OTHER),                             # REX before 66 is ignored: mov ax, imm16
    (64, "48 c7 c0 44 33 22 11", 7, OTHER),                       # mov rax, imm32 (sign-extended)
    (16, "a1 34 12", 3, OTHER),                                   # mov ax, [0x1234]: moffs16
    (16, "67 a1 78 56 34 12", 6, OTHER),                          # mov ax, [0x12345678]: moffs32
    (64, "a1 88 77 66 55 44 33 22 11", 9, OTHER),                 # mov eax, [moffs64]
    (64, "67 a1 44 33 22 11", 6, OTHER),                          # mov eax, [moffs32]
    (16, "f6 06 34 12 01", 5, OTHER),                             # test byte [0x1234], 1
    (32, "f7 05 44 33 22 11 78 56 34 12", 10, OTHER),             # test dword [abs], imm32
    (16, "f7 d8", 2, OTHER),                                      # neg ax: /3 has no immediate
    (16, "c8 10 00 01", 4, OTHER),                                # enter 16, 1
    (16, "9a 00 7c 00 00", 5, OTHER),                             # call 0:0x7c00
    (16, "66 ea 00 10 00 00 08 00", 8, OTHER),                    # jmp dword 8:0x1000
    (32, "ea 00 10 00 00 08 00", 7, OTHER),                       # jmp 8:0x1000
    (32, "8b 04 25 00 10 00 00", 7, OTHER),                       # mov eax, [0x1000]: SIB, no base, disp32
    (32, "8b 44 24 08", 4, OTHER),                                # mov eax, [esp+8]
    (16, "8b 46 08", 3, OTHER),                                   # mov ax, [bp+8]
    (16, "8b 86 00 10", 4, OTHER),                                # mov ax, [bp+0x1000]
    (16, "67 8b 04 25 00 10 00 00", 8, OTHER),                    # mov ax, [0x1000] in 32-bit addressing
    (64, "8b 05 00 10 00 00", 6, OTHER),                          # mov eax, [rip+0x1000]
    (32, "0f 20 c0", 3, OTHER),                                   # mov eax, cr0
    (32, "0f 22 05", 3, OTHER),                                   # mov cr0, ebp: mod is ignored, no disp32
    (64, "c4 e2 79 18 00", 5, OTHER),                             # vbroadcastss xmm0, [rax]
    (32, "c5 f8 77", 3, OTHER),                                   # vzeroupper
    (32, "c5 00", 2, OTHER),                                      # lds eax, [eax]: outside 64-bit code, mod != 11
    (32, "c4 c3 79 0f c1 08", 6, OTHER),                          # vpalignr xmm0, xmm0, xmm1, 8 (0F3A: imm8)
    (64, "62 f1 7e 48 6f 40 01", 7, OTHER),                       # vmovdqu32 zmm0, [rax+0x40] (disp8*N)
    (32, "62 00", 2, OTHER),                                      # bound eax, [eax]
    (32, "0f 0f 44 24 08 b4", 6, OTHER),                          # pfmul mm0, [esp+8]: 3DNow!'s imm8 opcode
    (32, "0f 3a 0f c1 08", 5, OTHER),                             # palignr mm0, mm1, 8
    (32, "66 0f 38 00 c1", 5, OTHER),                             # pshufb xmm0, xmm1
    (64, "66 e8 00 00", 4, OTHER),                                # call rel16: QEMU reads 66 as AMD does
    (64, "66 0f 84 00 00", 5, OTHER),                             # je rel16
    (32, "2e 3e 26 64 65 36 2e 3e 26 64 65 36 2e 3e 90", 15, OTHER),  # nop, fifteen bytes long
    (32, "2e 3e 26 64 65 36 2e 3e 26 64 65 36 2e 3e 3e 90", None, None),  # sixteen: #GP
    (16, "ec", 1, PORT),                                          # in al, dx
    (16, "66 ed", 2, PORT),                                       # in eax, dx
    (16, "e6 80", 2, PORT),                                       # out 0x80, al
    (32, "f3 6d", 2, PORT),                                       # rep insd
    (64, "f3 48 6f", 3, PORT),                                    # rep outsd (REX.W does not widen it)
    (32, "0f 31", 2, RDTSC),                                      # rdtsc
    (32, "0f 01 f9", 3, RDTSCP),                                  # rdtscp
    (16, "f4", 1, HLT),                                           # hlt
    (32, "0f 0b", 2, OTHER),                                      # ud2: #UD, but two bytes long
    (64, "06", None, None),                                       # push es: undefined in 64-bit code
    (32, "ff ff", None, None),                                    # ff /7: undefined
    (32, "0f 04", None, None),                                    # undefined
    (32, "dc d0", 2, OTHER),                                      # fcom2 st(0): capstone refuses, the CPU runs
    (32, "8f c8", 2, OTHER),                                      # pop eax (8f /1), as QEMU runs it
    (32, "b8 44 33", None, None),                                 # mov eax, imm32 cut off by the block's end
]


@pytest.mark.parametrize(("bits", "code", "length", "kind"), TRICKY, ids=[row[1] for row in TRICKY])
def test_a_tricky_encoding_has_the_length_and_kind_the_cpu_gives_it(bits, code, length, kind):
    got = compiled_first(bytes.fromhex(code), bits)
    if length is None:
        assert got is None
    else:
        assert (got.size, got.kind) == (length, kind)


# Unicorn has no AVX-512 and no 3DNow!, and UD2 raises #UD: those lengths are capstone's alone.
NOT_RUN = {"62 f1 7e 48 6f 40 01", "0f 0f 44 24 08 b4", "0f 0b"}
RUNS_AS_IS = [row for row in TRICKY if row[2] is not None and row[3] not in (PORT, HLT) and row[1] not in NOT_RUN]


@pytest.mark.parametrize(("bits", "code", "length", "kind"), RUNS_AS_IS, ids=[row[1] for row in RUNS_AS_IS])
def test_unicorn_runs_a_tricky_encoding_at_that_length(bits, code, length, kind):
    assert unicorn_length(bytes.fromhex(code), bits) == length


def unicorn_length(code: bytes, bits: int) -> int | None:
    """The size Unicorn's code hook gives the instruction at the start of ``code``: the CPU's own decoding."""
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, {16: unicorn.UC_MODE_16, 32: unicorn.UC_MODE_32, 64: unicorn.UC_MODE_64}[bits])
    uc.mem_map(0, 0x10000)
    uc.mem_write(0x1000, code + b"\x90" * 16)
    uc.reg_write(unicorn.x86_const.UC_X86_REG_ESP, 0x8000)
    sizes = []
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda _uc, _address, size, _data: sizes.append(size))
    with contextlib.suppress(unicorn.UcError):  # a fault after the hook ran: the size is known
        uc.emu_start(0x1000, 0x2000, count=1)
    return sizes[0] if sizes else None


def test_an_instruction_capstone_misreads_is_counted_as_unicorn_translates_it():
    # in 64-bit code, call rel16 (66 e8) is 4 bytes to QEMU; capstone reads 6: the block's count follows Unicorn.
    code = bytes.fromhex("66 e8 00 00 90 f4")  # call $+4; nop; hlt
    assert [i.size for i in decode_block_compiled(code, 0x1000, 64).instructions] == [4, 1, 1]
    assert unicorn_length(code, 64) == 4


# --- whole guests -------------------------------------------------------------------------

def guest_images() -> list[tuple[str, bytes, int]]:
    images = []
    for guest in bundled_guests():
        _, config = guest_config(guest)
        images.append((guest.name, load_guest(guest, config).image, config.mode))
    return images


def test_every_instruction_of_the_guests_images_decodes_as_capstone_decodes_it():
    for name, image, bits in guest_images():
        for offset in range(len(image)):  # every offset: data and the middle of instructions too
            try:
                assert_agrees_with_capstone(image[offset : offset + 16], bits)
            except AssertionError as error:
                raise AssertionError(f"{name} at +{offset:#x}: {error}") from None


BUNDLED_BUDGET = None if LONG else 60_000


@pytest.mark.parametrize("guest", bundled_guests(), ids=lambda path: path.name)
def test_a_bundled_guest_gives_the_same_block_records_both_ways(guest, monkeypatch):
    decoded = []

    def recording(code: bytes, address: int, bits: int, icount: int | None = None) -> blocks.Block:
        block = decode_block_compiled(code, address, bits, icount)
        decoded.append((block, decode_block(code, address, bits, icount)))
        return block

    monkeypatch.setattr(NativeDispatch, "decoder", COMPILED.replace(decode=recording))
    _, config = guest_config(guest)
    config = config.replace(dispatch="native")
    if BUNDLED_BUDGET is not None:
        config = config.replace(max_instructions=min(config.instruction_budget, BUNDLED_BUDGET))
    machine = Machine(config)
    machine.load(load_guest(guest, config).image)
    machine.run()
    assert decoded
    for compiled, reference in decoded:
        assert compiled == reference


# --- text, and what the run path loads ----------------------------------------------------

def test_a_compiled_instructions_text_is_capstones():
    code = bytes.fromhex("66 ba 08 04 00 00 66 ed dc d0 f4")  # mov edx, 0x408; in eax, dx; fcom2; hlt
    ours = decode_block_compiled(code, 0x7C00, 16)
    assert [i.text for i in ours.instructions] == [i.text for i in decode_block(code, 0x7C00, 16).instructions]
    assert ours.instructions[1].text == "in eax, dx"
    assert ours.hooked_index == (1,) and ours.ends_in_hlt


def test_a_run_of_a_one_read_guest_never_imports_capstone():
    script = (
        "import runpy, sys\n"
        "sys.argv = ['pmtimer_harness', 'run', 'benchmarks/one_read.asm']\n"
        "try:\n"
        "    runpy.run_module('pmtimer_harness', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "print('capstone' in sys.modules, file=sys.stderr)\n"
    )
    environment = {name: value for name, value in os.environ.items() if name != "HARNESS_DISPATCH"}
    ran = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                         env=environment, check=False)
    assert ran.returncode == 0, ran.stderr
    assert "pass" in ran.stdout
    assert ran.stderr.strip().splitlines()[-1] == "False"
