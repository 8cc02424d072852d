"""A user's own devices, from a project outside the repository, with the wheel installed.

The project (written here into a temporary folder) has a module of its own,
``acme_devices``, with two devices:

- ``Button``, at port 0x520, raising IRQ 5: a write of 2 pulses the line;
- ``MicroCounter``, a memory-mapped page at 0xFEB00000: a 32-bit microsecond
  counter at offset 0 (the virtual clock, so a run is the same every time)
  and a 32-bit scratch register at offset 4.

The project offers both by name through the entry-point group
``pmtimer_harness.devices``: its distribution's metadata (``*.dist-info``)
sits beside the module, which is how an installed package looks on
``sys.path``.  Its guest goes to 32-bit protected mode, works a while (a
snapshot taken then predates every use of the devices), reads the counter,
presses the button, takes IRQ 5 through its own IDT, reads the counter again,
and checks the scratch register.

One script in the fresh environment attaches the devices the three ways a
user can: ``run --device`` on the command line, ``harness_devices`` in the
project's pytest ini, and ``run_guest(devices=...)``; it snapshots mid-run
and resumes, and resumes a snapshot written while the project had no devices.
"""

import json
import os
import subprocess
from pathlib import Path

from tests.guests import program_pics

DEVICES = '''
from pmtimer_harness import MmioRegion, PortWindow

ONE_BYTE = frozenset({1})


class Button:
    """A push button on IRQ 5: writing 2 to port 0x520 pulses the line; a read gives the presses."""

    name = "button"
    state_version = 1
    irq = 5

    def __init__(self, port=0x520):
        self.windows = (PortWindow(port, 1, read_widths=ONE_BYTE, write_widths=ONE_BYTE),)
        self.presses = 0
        self.line = None

    def connect_irq(self, line):
        self.line = line

    def read(self, port, width, now_ns):
        return self.presses & 0xFF

    def write(self, port, width, value, now_ns):
        if value == 2:
            self.presses += 1
            self.line.pulse()

    def state(self, now_ns):
        return {"presses": self.presses}

    def restore(self, state, now_ns):
        self.presses = int(state["presses"])


class MicroCounter:
    """Microseconds of virtual time at offset 0, a scratch register at offset 4."""

    name = "micro-counter"
    state_version = 1
    windows = ()

    def __init__(self, base=0xFEB00000):
        self.regions = (MmioRegion(base, 8, read_widths=frozenset({4}), write_widths=frozenset({4})),)
        self.base = base
        self.scratch = 0

    def mmio_read(self, address, width, now_ns):
        if address == self.base:
            return (now_ns // 1000) & 0xFFFFFFFF
        return self.scratch

    def mmio_write(self, address, width, value, now_ns):
        if address == self.base + 4:
            self.scratch = value

    def state(self, now_ns):
        return {"scratch": self.scratch}

    def restore(self, state, now_ns):
        self.scratch = int(state["scratch"])
'''

ENTRY_POINTS = """[pmtimer_harness.devices]
acme-button = acme_devices:Button
acme-counter = acme_devices:MicroCounter
"""

# Real mode: the PIC (IRQ 5 alone unmasked, at vector 0x0D), a flat GDT and an IDT; then 32-bit code.
GUEST = """
        bits 16
        org LOAD_ADDRESS
        cli
""" + program_pics(0x08, 0x70, 0xDF, 0xFF) + """
        o32 lgdt [gdtr]
        o32 lidt [idtr]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:protected_mode

        bits 32
protected_mode:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7000
        mov ecx, 40000                  ; a while of work: a snapshot here predates the devices' first use
work:   dec ecx
        jnz work
        mov eax, [COUNTER]
        mov [first_us], eax
        sti
        mov dx, 0x520
        mov al, 2                       ; press the button: IRQ 5
        out dx, al
        mov ecx, 2000
settle: loop settle
        cmp byte [interrupts], 1
        jne failed
        mov eax, [COUNTER]
        cmp eax, [first_us]
        jbe failed                      ; the counter moved on while the guest waited
        mov dword [SCRATCH], 0x5EED1234
        cmp dword [SCRATCH], 0x5EED1234
        jne failed
        mov al, 0
        out 0xF4, al
        jmp $
failed: mov al, 1
        out 0xF4, al
        jmp $

irq5:   inc byte [interrupts]
        push eax
        mov al, 0x20                    ; EOI to the master PIC
        out 0x20, al
        pop eax
        iret

COUNTER equ 0xFEB00000
SCRATCH equ 0xFEB00004
interrupts: db 0
        align 4
first_us:   dd 0
        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF           ; 0x08: flat 32-bit code
        dq 0x00CF92000000FFFF           ; 0x10: flat data
gdtr:   dw 3 * 8 - 1
        dd gdt
idt:    times 0x0D dq 0
        dw irq5, 0x0008, 0x8E00, 0      ; IRQ 5: a 32-bit interrupt gate
idtr:   dw 0x0E * 8 - 1
        dd idt
"""

SAVE_AT = 30_000  # inside the work loop: before the guest touches either device

# Runs inside the fresh environment, in the project folder; prints one JSON document.
SCRIPT = '''
import contextlib, io, json, sys
import pytest
import pmtimer_harness
from pmtimer_harness import build_machine, restore_snapshot, run_guest, take_snapshot
from acme_devices import Button, MicroCounter

def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = pmtimer_harness.frontends.cli.main(list(argv))
    return {"status": status, "out": out.getvalue(), "err": err.getvalue()}

def record(result):
    return {key: value for key, value in result.as_dict().items() if key != "wall_seconds"}

import pmtimer_harness.frontends.cli
found = {}
found["package"] = pmtimer_harness.__file__
devices = ["--device", "acme_devices:Button", "--device", "acme_devices:MicroCounter"]
found["whole"] = cli("run", "--json", "guests/acme.asm", *devices)
found["saved"] = cli("run", "--json", "guests/acme.asm", *devices, "--snapshot", "mid.snap", "--save-at", "SAVE_AT")
found["resumed"] = cli("resume", "--json", "mid.snap", *devices)
found["by_name"] = cli("run", "--json", "guests/acme.asm", "--device", "acme-button", "--device", "acme-counter")
found["named_saved"] = cli("run", "--json", "guests/acme.asm", "--device", "acme-button", "--device", "acme-counter",
                           "--snapshot", "named.snap", "--save-at", "SAVE_AT")
found["named_resumed"] = cli("resume", "--json", "named.snap")  # the record names them: nothing to pass
found["before_saved"] = cli("run", "--json", "guests/acme.asm", "--snapshot", "before.snap", "--save-at", "SAVE_AT")
found["before_resumed"] = cli("resume", "--json", "before.snap", "--device", "acme-button", "--device", "acme-counter")

found["api_whole"] = record(run_guest("guests/acme.asm", devices=[Button(), MicroCounter()]).result)
machine = build_machine("guests/acme.asm", devices=[Button(), MicroCounter()])
saved = []
machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
machine.save_at(SAVE_AT)
found["api_split"] = record(machine.run())
found["api_resumed"] = record(restore_snapshot(saved[0], devices=[Button(), MicroCounter()]).run())

class Outcomes:
    def __init__(self):
        self.items = {}
    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            self.items[report.nodeid] = report.outcome

outcomes = Outcomes()
with contextlib.redirect_stdout(io.StringIO()):
    found["pytest_status"] = int(pytest.main(["-q", "-p", "no:hypothesispytest", "-p", "no:cacheprovider"],
                                             plugins=[outcomes]))
found["pytest"] = outcomes.items
print(json.dumps(found))
'''.replace("SAVE_AT", str(SAVE_AT))


def acme_project(root: Path) -> Path:
    project = root / "acme"
    (project / "guests").mkdir(parents=True)
    (project / "guests" / "acme.asm").write_text(GUEST)
    (project / "acme_devices.py").write_text(DEVICES)
    metadata = project / "acme_devices-1.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-devices\nVersion: 1.0\n")
    (metadata / "entry_points.txt").write_text(ENTRY_POINTS)
    (project / "pytest.ini").write_text("[pytest]\nharness_guests =\n    guests/*.asm\n"
                                        "harness_devices =\n    acme-button\n    acme_devices:MicroCounter\n")
    return project


def test_a_user_s_port_and_memory_mapped_devices_from_every_entry_point(tmp_path, installed_python):
    project = acme_project(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(project)
    done = subprocess.run([installed_python, "-c", SCRIPT], cwd=project, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert Path(found["package"]).is_relative_to(installed_python.parents[1])  # the wheel's copy, not the repository

    def document(name: str) -> dict:
        run = found[name]
        assert run["status"] == 0, f"{name}: {run['err']}{run['out']}"
        assert "Traceback" not in run["err"]
        return json.loads(run["out"])

    whole = document("whole")
    assert whole["verdict"] == "pass" and whole["instructions"] > SAVE_AT

    # Snapshotted mid-run and resumed: the same end, bit for bit, whichever way the devices were named.
    ends = ("instructions", "virtual_ns", "port_reads", "port_writes", "console", "exit_code", "verdict")
    for saved, resumed in (("saved", "resumed"), ("named_saved", "named_resumed")):
        assert document(saved)["verdict"] == "pass"
        assert {key: document(resumed)[key] for key in ends} == {key: whole[key] for key in ends}, resumed
    assert document("by_name")["instructions"] == whole["instructions"]

    # A snapshot written before the project had devices: they start from reset, and the run says so once.
    before = found["before_resumed"]
    assert {key: document("before_resumed")[key] for key in ends} == {key: whole[key] for key in ends}
    assert (before["err"] + before["out"]).count("starts from its reset state") >= 1

    # The API, and the pytest ini: the same guest passes.
    api = found["api_whole"]
    assert api["verdict"] == "pass" and api["instructions"] == whole["instructions"]
    assert found["api_split"] == api and found["api_resumed"] == api
    assert found["pytest"] == {"guests/acme.asm::acme": "passed"}, found["pytest"]
