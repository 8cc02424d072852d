"""Finding Bochs as each OS installs it, and driving it through a log file: fake layouts, no real Bochs needed."""

import sys
import time

import pytest
from pmtimer_harness.peers import bochs
from pmtimer_harness.peers.bochs import BochsUnavailable, bochs_command, bochsrc, find_bochs, run_in_bochs

from tests.guests import write_guest

USAGE_WITH_DEBUGGER = "  -rc filename     execute debugger commands stored in file"


@pytest.fixture(autouse=True)
def no_bochs_settings(monkeypatch):
    for name in ("HARNESS_BOCHS", "BXSHARE", "LTDL_LIBRARY_PATH"):
        monkeypatch.delenv(name, raising=False)


def install(prefix, program="bin/bochs", share="share/bochs", debugger=True, run="sleep 60\n"):
    """A Bochs under ``prefix``: its program (a script that reads its log's name from bochsrc) and its BIOS images."""
    (prefix / share).mkdir(parents=True, exist_ok=True)
    for rom in bochs.ROMS:
        (prefix / share / rom).write_bytes(b"\xff")
    path = prefix / program
    path.parent.mkdir(parents=True, exist_ok=True)
    usage = USAGE_WITH_DEBUGGER if debugger else ""
    path.write_text(f'#!/bin/sh\nif [ "$1" = "--help" ]; then echo "Usage: bochs"; echo "{usage}"; exit 0; fi\n'
                    'log=$(sed -n "s/^log: //p" bochsrc)\n' + run)
    path.chmod(0o755)
    return path


def test_bxshare_names_the_bios_images(tmp_path, monkeypatch):
    program = install(tmp_path / "usr")
    install(tmp_path / "elsewhere", share="roms")
    monkeypatch.setenv("HARNESS_BOCHS", str(program))
    monkeypatch.setenv("BXSHARE", str(tmp_path / "elsewhere" / "roms"))
    assert find_bochs().share == tmp_path / "elsewhere" / "roms"


def test_a_bxshare_without_the_images_is_refused_by_name_though_others_are_beside_the_program(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_BOCHS", str(install(tmp_path / "usr")))
    monkeypatch.setenv("BXSHARE", str(tmp_path))
    with pytest.raises(BochsUnavailable, match=f"BXSHARE names {tmp_path}, which does not hold BIOS-bochs-latest"):
        find_bochs()


def test_debians_layout_the_images_in_the_programs_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(install(tmp_path / "usr").parent))
    found = find_bochs()
    assert (found.program, found.share) == (str(tmp_path / "usr/bin/bochs"), tmp_path / "usr/share/bochs")


def test_homebrews_layout_off_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(bochs, "HOMEBREW_PREFIXES", (tmp_path / "usr/local", tmp_path / "opt/homebrew"))
    monkeypatch.setenv("PATH", str(tmp_path))
    install(tmp_path / "opt/homebrew")
    found = find_bochs()
    homebrew = tmp_path / "opt/homebrew"
    assert (found.program, found.share) == (str(homebrew / "bin/bochs"), homebrew / "share/bochs")


def test_windows_installer_layout_newest_first(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("PROGRAMFILES", str(tmp_path / "Program Files"))
    monkeypatch.setenv("PATH", str(tmp_path))
    for version in ("Bochs-2.6.11", "Bochs-2.10", "Bochs-2.7"):
        install(tmp_path / "Program Files" / version, program="bochs.exe", share=".")
    found = find_bochs()
    assert found.share == tmp_path / "Program Files" / "Bochs-2.10"
    assert found.program == str(found.share / "bochs.exe")
    assert bochs_command(found)[:2] == [found.program, "-noconsole"]  # no console window of its own


def test_none_found_says_where_it_looked_and_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(bochs, "UNIX_PREFIXES", (tmp_path,))
    monkeypatch.setattr(bochs, "HOMEBREW_PREFIXES", (tmp_path,))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BochsUnavailable, match=r"no bochs program on PATH or where its installers put it.*BXSHARE"):
        find_bochs()


def test_the_term_display_only_where_bochs_has_its_plugin(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_BOCHS", str(install(tmp_path / "usr")))
    assert find_bochs().display == "nogui"
    plugins = tmp_path / "usr/lib/x86_64-linux-gnu/bochs/plugins"
    plugins.mkdir(parents=True)
    (plugins / "libbx_term_gui.so").write_bytes(b"")
    found = find_bochs()
    assert found.display == "term"
    assert "display_library: term\n" in bochsrc(found, tmp_path / "disk.img", 1, tmp_path / "bochs.log")


def test_the_log_is_a_file_in_the_harness_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_BOCHS", str(install(tmp_path / "usr")))
    config = bochsrc(find_bochs(), tmp_path / "disk.img", 1, tmp_path / "bochs.log")
    assert f"log: {tmp_path / 'bochs.log'}\n" in config and "/dev/" not in config


@pytest.mark.parametrize("debugger", [True, False])
def test_rc_only_for_a_bochs_with_its_debugger(tmp_path, monkeypatch, debugger):
    # A Bochs without its debugger stops at once on -rc: "command line arg '-rc' was not understood".
    monkeypatch.setenv("HARNESS_BOCHS", str(install(tmp_path / "usr", debugger=debugger)))
    assert ("-rc" in bochs_command(find_bochs())) is debugger


def test_the_console_and_exit_code_are_read_from_the_log_as_bochs_writes_it(tmp_path, monkeypatch):
    writes = "".join(f'echo "00016398398d[UNMAP ] unmapped: 8-bit write to 00e9 = {ord(c):02x}" >> "$log"\n'
                     for c in "hi")
    run = writes + 'echo "00016398399d[UNMAP ] unmapped: 16-bit write to 00f4 = 0003" >> "$log"\nsleep 60\n'
    monkeypatch.setenv("HARNESS_BOCHS", str(install(tmp_path / "usr", run=run)))
    began = time.perf_counter()
    result = run_in_bochs(write_guest(tmp_path, "hlt\n"), timeout_s=30)
    assert (result.verdict, result.exit_code, result.console) == ("fail", 3, "hi")
    assert time.perf_counter() - began < 5  # stopped at the exit write, not at the deadline


def test_a_guest_that_floods_the_log_is_stopped_at_its_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(bochs, "LOG_LIMIT", 1 << 16)
    run = 'while :; do echo "00016398398d[UNMAP ] unmapped: 8-bit write to 0080 = 00"; done >> "$log"\n'
    monkeypatch.setenv("HARNESS_BOCHS", str(install(tmp_path / "usr", run=run)))
    result = run_in_bochs(write_guest(tmp_path, "hlt\n"), timeout_s=30)
    assert (result.verdict, result.timed_out) == ("error", False)
    assert "filled Bochs's log past 65,536 bytes" in result.notes[0]
