"""NASM: the cache follows content, the listing maps addresses to source lines."""

import pytest
from pmtimer_harness.tools.assembler import assemble, parse_listing


def test_an_edited_include_rebuilds_the_guest(tmp_path):
    (tmp_path / "value.inc").write_text("%define EXIT_VALUE 1\n")
    source = tmp_path / "guest.asm"
    source.write_text('%include "value.inc"\nmov al, EXIT_VALUE\n')
    first = assemble(source, {})
    assert assemble(source, {}).image == first.image  # served from the cache
    (tmp_path / "value.inc").write_text("%define EXIT_VALUE 2\n")
    assert assemble(source, {}).image != first.image


def test_defines_are_part_of_the_cache_key(tmp_path):
    source = tmp_path / "guest.asm"
    source.write_text("mov al, TIMER_WIDTH\n")
    assert assemble(source, {"TIMER_WIDTH": 24}).image[1] == 24
    assert assemble(source, {"TIMER_WIDTH": 32}).image[1] == 32


def test_listing_maps_offsets_to_guest_lines_and_macro_calls():
    listing = """\
     1                                  bits 16
     2                                  %macro TWICE 0
     3                                    nop
     4                                    nop
     5                                  %endmacro
     6 00000000 B000                      mov al, 0
     7                                    TWICE
     3 00000002 90                  <1>  nop
     4 00000003 90                  <1>  nop
"""
    offsets = parse_listing(listing, "g.asm")
    assert offsets[0] == "g.asm:6: mov al, 0"
    assert offsets[2] == "g.asm:7 (expanded): nop"
    assert 1 not in offsets


def test_labels_come_from_nasm_s_map_without_macro_locals(tmp_path):
    source = tmp_path / "guest.asm"
    source.write_text("org 0x7c00\nstart: nop\n%macro M 0\n%%inner: nop\n%endmacro\nM\nafter: nop\n.local: hlt\n")
    symbols = assemble(source, {}).symbols
    assert symbols == {"start": 0x7C00, "after": 0x7C02, "after.local": 0x7C03}


def test_an_image_larger_than_guest_ram_can_hold_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from pmtimer_harness.tools import assembler

    monkeypatch.setattr(assembler, "MAX_MEMORY", 4096)
    source = tmp_path / "huge.asm"
    source.write_text("times 8192 db 0\n")
    with pytest.raises(assembler.AssemblyError, match="8,192-byte image, more than guest RAM can ever hold"):
        assemble(source, {}, use_cache=False)


def test_a_listing_over_its_cap_is_refused(tmp_path, monkeypatch):
    from pmtimer_harness.tools import assembler

    monkeypatch.setattr(assembler, "MAX_LISTING_BYTES", 100)
    source = tmp_path / "long.asm"
    source.write_text("".join(f"nop ; line {n}\n" for n in range(50)))
    with pytest.raises(assembler.AssemblyError, match=r"listing is .* bytes, over the cap"):
        assemble(source, {}, use_cache=False)
