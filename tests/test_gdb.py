"""Debugging a guest with a real gdb, in batch mode, through ``--gdb``."""

import re
import shutil
import subprocess
import sys

import pytest

from tests.guests import REPO, write_guest

pytestmark = pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")

GUEST = """
        mov     dx, TIMER_PORT          ; 0x7c00
        in      eax, dx                 ; 0x7c03
timer_was_read:
        mov     ebx, eax                ; 0x7c05
        in      eax, dx                 ; 0x7c08
        mov     al, 3
        out     0xF4, al
"""


def test_break_step_read_registers_and_the_timer(tmp_path):
    guest = write_guest(tmp_path, GUEST)
    harness = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(guest), "--gdb", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        labels = re.search(r"source (\S+),", harness.stderr.readline()).group(1)
        port = re.search(r"localhost:(\d+)", harness.stderr.readline()).group(1)
        commands = [
            "set architecture i386", f"source {labels}", f"target remote localhost:{port}",
            "break *$timer_was_read", "continue",
            "info registers eip", "stepi", "print/x $ebx == $eax", "monitor timer", "continue",
        ]
        gdb = subprocess.run(
            ["gdb", "-nx", "-batch", *[part for command in commands for part in ("-ex", command)]],
            capture_output=True, text=True, timeout=60,
        )
        stdout, _ = harness.communicate(timeout=60)
    finally:
        harness.kill()
    output = gdb.stdout + gdb.stderr
    assert "Breakpoint 1, 0x00007c05" in output  # timer_was_read, from NASM's map
    assert re.search(r"eip\s+0x7c05", output)
    assert "0x00007c08 in" in output  # one instruction stepped
    assert "$1 = 0x1" in output  # ebx took the timer value
    assert re.search(r"PM_TMR 0x[0-9a-f]{8} \(32-bit, port 0x408\), TMR_STS 0, TMR_EN 0", output)
    assert "exited with code 03" in output
    assert "guest.asm: fail (exit code 3)" in stdout

