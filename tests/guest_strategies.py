"""Hypothesis strategies for guest images: random bytes, and sequences of plausible real-mode code.

The plausible code is machine code written as bytes (no assembler per
example), in 16-bit real mode at 0x7C00, from pieces a guest of this harness
uses: port I/O to every device and to unclaimed ports, TSC reads (RDTSC and
RDTSCP, some printed to the console, so that a host value would show), PIC and
PM1 set-up for the SCI, the vector table, STI/CLI/HLT, loops, jumps, CR0.PE on
and off without reloading CS, stores over the guest's own code, and random bytes.
The image ends with an exit (``out 0xF4, al``) and a HLT, which a run may or
may not reach.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

LOAD_ADDRESS = 0x7C00
IMAGE_LIMIT = 1024  # bytes of plausible code; stores aim inside it
DEVICE_PORTS = (0x20, 0x21, 0xA0, 0xA1, 0xE9, 0xF4, 0xF5, 0x400, 0x401, 0x402, 0x404, 0x408, 0x409, 0x40B, 0x80)

# The SCI through the PICs: ICW1-4 to both, IRQ 2 and 9 unmasked, TMR_EN set.
SCI_SETUP = bytes.fromhex(
    "b011e620e6a0"  # mov al, 0x11; out 0x20, al; out 0xA0, al
    "b020e621b028e6a1"  # ICW2: 0x20, 0x28
    "b004e621b002e6a1"  # ICW3
    "b001e621e6a1"  # ICW4
    "b0fbe621b0fde6a1"  # masks: IRQ 2 and IRQ 9 open
    "ba0204b80100ef"  # mov dx, 0x402; mov ax, 1; out dx, ax
)
PE_ON = bytes.fromhex("0f20c00c010f22c0")  # mov eax, cr0; or al, 1; mov cr0, eax
PE_OFF = bytes.fromhex("0f20c024fe0f22c0")  # mov eax, cr0; and al, 0xFE; mov cr0, eax
CLEAR_TMR_STS = bytes.fromhex("ba0004b80100ef")  # mov dx, 0x400; mov ax, 1; out dx, ax
EXIT = bytes.fromhex("b000e6f4f4")  # mov al, 0; out 0xF4, al; hlt
RDTSC = bytes.fromhex("0f31")
RDTSCP = bytes.fromhex("0f01f9")
PRINT_AL = bytes.fromhex("e6e9")  # out 0xE9, al

ports = st.one_of(st.sampled_from(DEVICE_PORTS), st.integers(0, 0xFFFF))


@st.composite
def port_access(draw: st.DrawFn) -> bytes:
    port = draw(ports)
    load = b"\xba" + struct.pack("<H", port)  # mov dx, port
    value = draw(st.sampled_from([b"\xb0" + bytes([draw(st.integers(0, 255))]), b"\xb8\x01\x00", b""]))
    access = draw(st.sampled_from([b"\xec", b"\xed", b"\x66\xed", b"\xee", b"\xef", b"\x66\xef", b"\xf3\x6c"]))
    if access == b"\xf3\x6c":  # rep insb into free RAM at 0x1000
        return load + bytes.fromhex("bf0010b90400") + access
    return load + value + access


@st.composite
def loop(draw: st.DrawFn) -> bytes:
    body = draw(st.sampled_from([b"", b"\xec", b"\x90", b"\xe6\xe9", RDTSC]))
    count = draw(st.integers(1, 300))
    back = -(len(body) + 3) & 0xFF
    return b"\xb9" + struct.pack("<H", count) + body + b"\x49\x75" + bytes([back])  # mov cx; l: body; dec cx; jnz l


@st.composite
def self_modifying_store(draw: st.DrawFn) -> bytes:
    target = LOAD_ADDRESS + draw(st.integers(0, IMAGE_LIMIT - 1))
    value = draw(st.sampled_from([0x90, 0xEC, 0xED, 0xF4, 0xCC, 0x66, 0x0F, 0x31, draw(st.integers(0, 255))]))
    return b"\xc6\x06" + struct.pack("<H", target) + bytes([value])  # mov byte [target], value


@st.composite
def tsc_read(draw: st.DrawFn) -> bytes:
    read = draw(st.sampled_from([RDTSC, RDTSCP, b"\x66" + RDTSC, b"\xf3" + RDTSC]))
    return read + draw(st.sampled_from([b"", PRINT_AL]))


@st.composite
def vector_setup(draw: st.DrawFn) -> bytes:
    offset = draw(st.one_of(st.integers(LOAD_ADDRESS, LOAD_ADDRESS + IMAGE_LIMIT), st.integers(0, 0xFFFF)))
    segment = draw(st.sampled_from([0, 0, 0xFFFF, draw(st.integers(0, 0xFFFF))]))
    return (
        b"\xc7\x06\xa4\x00" + struct.pack("<H", offset)  # mov word [0x29 * 4], offset
        + b"\xc7\x06\xa6\x00" + struct.pack("<H", segment)  # mov word [0x29 * 4 + 2], segment
    )


@st.composite
def stack_setup(draw: st.DrawFn) -> bytes:
    segment, pointer = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    return b"\xb8" + struct.pack("<H", segment) + b"\x8e\xd0\xbc" + struct.pack("<H", pointer)  # mov ss; mov sp


@st.composite
def short_jump(draw: st.DrawFn) -> bytes:
    return b"\xeb" + bytes([draw(st.integers(0, 255))])


piece = st.one_of(
    port_access(),
    tsc_read(),
    loop(),
    self_modifying_store(),
    vector_setup(),
    stack_setup(),
    short_jump(),
    st.just(SCI_SETUP),
    st.just(PE_ON),
    st.just(PE_OFF),
    st.just(CLEAR_TMR_STS),
    st.sampled_from([b"\xfb", b"\xfa", b"\xf4", b"\x90", b"\xcf", b"\xeb\xfe"]),  # sti, cli, hlt, nop, iret, jmp $
    st.binary(min_size=1, max_size=8),
)


@st.composite
def plausible_image(draw: st.DrawFn) -> bytes:
    code = b"".join(draw(st.lists(piece, min_size=1, max_size=24)))
    return code[: IMAGE_LIMIT - len(EXIT)] + EXIT


random_image = st.binary(min_size=1, max_size=512)


# --- 64-bit code: addresses a real CPU refuses (non-canonical) beside ones it takes ---------------

LOAD_ADDRESS_64 = 0x1000
ADDRESSES_64 = (
    0x8000_0000_0000_0000, 0x0000_8000_0000_0000, 0xFFFF_7FFF_FFFF_FFFF, 0x8000_0000_0000_1000,  # not canonical
    0xFFFF_8000_0000_0000, 0xFFFF_FFFF_FFFF_F000, 0x0000_7FFF_FFFF_F000,  # canonical, outside RAM
    0, 0x800, LOAD_ADDRESS_64, LOAD_ADDRESS_64 + 0x40,  # RAM, the guest's own code among it
)
# What follows ``mov rax, address``: a jump or call there, a load, a store, a stack there, a string read.
USES_OF_RAX = (
    b"\xff\xe0", b"\xff\xd0", b"\x8a\x18", b"\xc6\x00\x90", b"\x48\x89\xc4\x50", b"\x48\x89\xc4\xc3",
    b"\x48\x89\xc6\xac", b"\x48\x8b\x00",
)


@st.composite
def address_use_64(draw: st.DrawFn) -> bytes:
    address = draw(st.one_of(st.sampled_from(ADDRESSES_64), st.integers(0, (1 << 64) - 1)))
    return b"\x48\xb8" + struct.pack("<Q", address) + draw(st.sampled_from(USES_OF_RAX))


piece_64 = st.one_of(
    address_use_64(),
    port_access(),  # the same bytes mean the same port instructions in 64-bit code
    tsc_read(),
    st.sampled_from([b"\xfb", b"\xfa", b"\x90", b"\xeb\xfe", b"\x48\xcf"]),  # sti, cli, nop, jmp $, iretq
    st.binary(min_size=1, max_size=8),
)


@st.composite
def plausible_image_64(draw: st.DrawFn) -> bytes:
    code = b"".join(draw(st.lists(piece_64, min_size=1, max_size=12)))
    return code[: IMAGE_LIMIT - len(EXIT)] + EXIT
