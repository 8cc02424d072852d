"""Ctrl-C (SIGINT) stops a run within a second, prints the result so far and exits with status 130.

Each guest first writes a line to the console, which ``--trace`` prints as its
newline is written: that line says the run has begun, and the signal is sent then.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.guests import default_ctrl_c, write_guest

ANNOUNCE = "        mov al, '!'\n        out 0xE9, al\n        mov al, 10\n        out 0xE9, al\n"
GUESTS = {
    "spinning": ANNOUNCE + "spin:   jmp spin\n",
    "sleeping in HLT": ANNOUNCE + """
        mov dx, 0x402           ; TMR_EN: HLT waits for the top bit to toggle, 600 s away at 32 bits
        mov ax, 1
        out dx, ax
        sti
idle:   hlt
        jmp idle
""",
}
LATENCY_S = 1.0
MARGIN_S = 1.5  # a loaded machine


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")
@pytest.mark.parametrize(
    ("guest", "clock"),
    # The virtual clock skips a HLT's wait at once: only the host clock sleeps.
    [("spinning", "virtual"), ("spinning", "host"), ("sleeping in HLT", "host")],
)
def test_ctrl_c_stops_the_run_and_prints_the_partial_result(tmp_path, guest, clock):
    path = write_guest(tmp_path, GUESTS[guest])
    options = ["--clock", clock, "--timeout", "120", "--trace"]
    if clock == "virtual":
        options += ["--max-instructions", str(10**12)]
    child = subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", "run", str(path), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c,
    )
    try:
        assert "DEBUGCON" in child.stdout.readline()  # the guest is running
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=30)
        latency = time.perf_counter() - sent
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130, stdout + stderr
    assert "guest.asm: interrupted" in stdout
    assert "interrupted: Ctrl-C (SIGINT) stopped the run" in stdout
    assert "Traceback" not in stderr + stdout
    assert latency < LATENCY_S + MARGIN_S


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("command", [["suite"], ["matrix", "--platforms", "acpi,qemu"]])
def test_ctrl_c_stops_the_whole_suite_or_matrix(tmp_path, command):
    quick = write_guest(tmp_path, "        mov al, 0\n        out 0xF4, al\n", name="quick.asm")
    spinning = [write_guest(tmp_path, "spin:   jmp spin\n", name=f"spin{n}.asm") for n in (1, 2)]
    guests = [str(quick), *map(str, spinning)]
    # Assembled beforehand (for the platforms the matrix runs), so that only Python's start-up
    # stands before the first spin.
    for platform in ("acpi", "qemu"):
        subprocess.run([sys.executable, "-m", "pmtimer_harness", "suite", *guests, "--timeout", "0.2",
                        "--platform", platform], capture_output=True, check=False, timeout=60)
    # In turn (-j 1): the rule under test is that the second spinning guest never starts.
    process = subprocess.Popen(
        # Host time: no instruction budget, which a spin may spend before Ctrl-C comes (the matrix's in 0.1 s).
        [sys.executable, "-m", "pmtimer_harness", *command, *guests, "-j", "1", "--clock", "host"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c,
    )
    # quick.asm's progress lines (one a platform): spin1.asm comes next.
    for _platform in ("acpi", "qemu") if command[0] == "matrix" else ("acpi",):
        assert "quick.asm" in process.stderr.readline()
    time.sleep(1.5)  # in the first spin by now, with room for a loaded machine
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert "spin1.asm" in stdout and "interrupted" in stdout
    assert "spin2.asm" not in stdout  # the run stopped: the second guest never started
    assert "Traceback" not in stderr
