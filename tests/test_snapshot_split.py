"""Split-run equivalence: run to N, save, restore in a fresh process, run to the end.

The console, the exit code, the instruction count, the virtual time, and every
port access after the save point must equal those of one uninterrupted run.
"""

import json
import re
import subprocess
import sys

import pytest
from pmtimer_harness.core.snapshot import read_chunks, read_json

from tests.guests import REPO, bundled, write_guest

FIELDS = ("verdict", "exit_code", "console", "instructions", "virtual_ns", "port_reads", "port_writes")


def harness(*args):
    done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    return done


def traced_json(*args):
    """(JSON result, trace lines) of a run or resume with --json --trace."""
    done = harness(*args, "--json", "--trace")
    return json.loads(done.stdout), [line for line in done.stderr.splitlines() if line.startswith("[")]


def port_lines(trace):
    # The access itself, without the source line (a resumed machine has no listing).
    return [line.split("  at ")[0] for line in trace if " IRQ " not in line]


@pytest.mark.parametrize(
    ("guest", "save_at", "options"),
    [
        ("monotonic.asm", 1000, ()),
        ("monotonic.asm", 100_000, ()),
        ("wrap24.asm", 1000, ()),  # before the 24-bit wrap; the rest crosses it
        ("overflow_irq.asm", 300, ()),  # before the PIC is programmed
        ("overflow_irq.asm", "inside the handler", ()),  # TMR_STS set, the SCI in service
        ("overflow_irq.asm", 2500, ()),
        # Half of its 3,000 reads behind it: which reads are not latched follows from how many came before.
        ("linux_pmtmr.asm", 10_019_000, ("--platform", "piix4")),
    ],
)
def test_a_split_run_equals_an_uninterrupted_one(tmp_path, guest, save_at, options):
    snapshot = tmp_path / "machine.snap"
    whole, whole_trace = traced_json("run", str(bundled(guest)), *options)
    if save_at == "inside the handler":
        save_at = inside_the_first_sci_handler(whole_trace)
    saving, _ = traced_json("run", str(bundled(guest)), *options, "--save-at", str(save_at),
                            "--snapshot", str(snapshot))
    resumed, resumed_trace = traced_json("resume", str(snapshot))
    for field in FIELDS:
        assert saving[field] == whole[field], field
        assert resumed[field] == whole[field], field
    tail = after_a_split_console_line(port_lines(resumed_trace))
    assert tail and port_lines(whole_trace)[-len(tail):] == tail


def after_a_split_console_line(trace):
    """The resumed trace without its first console line: the save may have cut it, leaving its rest alone."""
    return trace[1:] if "DEBUGCON line" in trace[0] else trace


def inside_the_first_sci_handler(trace):
    """Just after the handler has read PM1_STS, before it clears TMR_STS."""
    irq = next(index for index, line in enumerate(trace) if " IRQ 9 " in line)
    status_read = next(line for line in trace[irq:] if "PM1_STS read" in line)
    return int(re.search(r"insn +(\d+)\]", status_read).group(1)) + 1


def test_the_pending_sci_is_in_the_snapshot(tmp_path):
    snapshot = tmp_path / "machine.snap"
    _, trace = traced_json("run", str(bundled("overflow_irq.asm")))
    save_at = inside_the_first_sci_handler(trace)
    harness("run", str(bundled("overflow_irq.asm")), "--save-at", str(save_at), "--snapshot", str(snapshot))
    chunks, _ = read_chunks(snapshot.read_bytes())
    assert read_json(chunks["devices/acpi-pm1"]) == {"tmr_en": True, "tmr_sts": True, "sci_en": True}
    assert read_json(chunks["devices/pic8259"])["slave"]["isr"] == 0x02


def test_restoring_twice_gives_the_same_run(tmp_path):
    snapshot = tmp_path / "machine.snap"
    harness("run", str(bundled("monotonic.asm")), "--save-at", "5000", "--snapshot", str(snapshot))
    first, _ = traced_json("resume", str(snapshot))
    second, _ = traced_json("resume", str(snapshot))
    assert first == {**second, "wall_seconds": first["wall_seconds"]}


GUEST_ASKS_FOR_A_SNAPSHOT = """
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     ebx, eax                ; the count before the snapshot
        out     0xF5, al                ; save at the end of this block:
        jmp     saved                   ; which a jump ends, so the snapshot is taken here
saved:  in      al, 0xF5
        mov     cl, al                  ; snapshots taken so far: 1, also after a restore
        in      eax, dx
        cmp     eax, ebx                ; the timer must not go back
        setb    al
        add     al, cl
        dec     al                      ; exit 0: no backward step and exactly one snapshot
        out     0xF4, al
"""


@pytest.mark.parametrize("clock", ["virtual", "host"])
def test_a_guest_asks_for_a_snapshot_and_the_timer_continues_after_restore(tmp_path, clock):
    guest = write_guest(tmp_path, GUEST_ASKS_FOR_A_SNAPSHOT, header="; harness: --timer-start 0x80000000\n")
    snapshot = tmp_path / "asked.snap"
    first = harness("run", str(guest), "--clock", clock, "--snapshot", str(snapshot))
    assert first.returncode == 0, first.stdout + first.stderr
    for _ in range(2):
        again = harness("resume", str(snapshot))
        assert again.returncode == 0, again.stdout + again.stderr


def test_bad_snapshots_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.snap"
    broken.write_bytes(b"PMTHSNAP\x01\x00")
    for command in (["resume", str(broken)], ["snapshot", "info", str(broken)], ["resume", str(tmp_path / "none")]):
        done = harness(*command)
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_save_at_needs_a_file_and_the_virtual_clock(tmp_path):
    done = harness("run", str(bundled("hello.asm")), "--save-at", "10")
    assert done.returncode == 2 and "--snapshot" in done.stderr
    done = harness("run", str(bundled("hello.asm")), "--save-at", "10", "--clock", "host",
                   "--snapshot", str(tmp_path / "x.snap"))
    assert done.returncode == 2 and "virtual clock" in done.stderr
