"""Start-up: a guest run as a process loads only what that run needs.

Every module named here once cost a one-guest run measurable start-up time
(``benchmarks/bench_startup.py``, docs/limits.md) and is now loaded where it
is needed: a trace, an ELF or C guest, a snapshot, the debugger, another
command.  The guest is the benchmark's own, its assembly already cached.
"""

import subprocess
import sys

import pytest
from pmtimer_harness import MachineConfig, assemble
from pmtimer_harness.core.config import native_dispatch_built

from tests.guests import REPO

GUEST = REPO / "benchmarks" / "one_read.asm"

# The command line's own entry point in a fresh process, then every module the process holds, on one line.
RUN_THEN_LIST = (
    "import sys\n"
    "from pmtimer_harness.frontends.cli import entry_point\n"
    "status = entry_point()\n"
    "print('modules:', status, *sorted(sys.modules))\n"
)

NOT_FOR_A_PLAIN_RUN = {
    # what another kind of run needs
    "pmtimer_harness.core.trace": "--trace",
    "pmtimer_harness.core.insn_trace": "--trace insn",
    "pmtimer_harness.core.reference_dispatch": "--dispatch reference",
    "pmtimer_harness.core.gdbstub": "--gdb",
    "socket": "--gdb",
    "pmtimer_harness.core.snapshot": "--snapshot, resume",
    "pmtimer_harness.core.snapshot_format": "--snapshot, resume",
    "pmtimer_harness.core.device_specs": "--device",
    "pmtimer_harness.tools.elf_image": "an ELF or C guest",
    "pmtimer_harness.tools.c_compiler": "a C guest",
    "subprocess": "NASM, when the cache has no entry",
    "datetime": "a guest that reads the RTC's clock",
    "traceback": "a failure",
    # a class every run defines is a record (harness/record.py): a dataclass compiles its methods at import
    "dataclasses": "a command that defines a dataclass (suite, matrix, plot, the peers)",
    # the cache's digests are CPython's own SHA-256 (tools/files.py)
    "_hashlib": "OpenSSL's digests, which no run needs",
    # what other commands need
    "pmtimer_harness.frontends.commands.suite": "suite",
    "pmtimer_harness.frontends.suite": "suite",
    "pmtimer_harness.frontends.matrix": "matrix",
    "pmtimer_harness.frontends.plot": "plot",
    "pmtimer_harness.peers.qemu": "qemu, differential",
    "pmtimer_harness.platform.listing": "platforms",
    "tqdm": "suite's progress bar",
}


def loaded_by_a_run(guest):
    done = subprocess.run(
        [sys.executable, "-c", RUN_THEN_LIST, "run", str(guest)], capture_output=True, text=True, timeout=60,
    )
    listed = [line for line in done.stdout.splitlines() if line.startswith("modules: ")]
    assert listed, done.stdout + done.stderr
    status, *modules = listed[-1].split()[1:]
    assert status == "0", done.stdout + done.stderr
    return set(modules)


@pytest.fixture(scope="module")
def modules():
    assemble(GUEST, MachineConfig().nasm_defines())  # warm the cache the process will read: no NASM there
    return loaded_by_a_run(GUEST)


@pytest.mark.parametrize("module", sorted(NOT_FOR_A_PLAIN_RUN))
def test_a_plain_run_of_one_guest_does_not_load(modules, module):
    assert module not in modules, f"{module} is for {NOT_FOR_A_PLAIN_RUN[module]}"


@pytest.mark.skipif(not native_dispatch_built(), reason="the Python path decodes blocks with capstone")
def test_a_plain_run_on_the_compiled_path_loads_no_disassembler(modules):
    assert "capstone" not in modules


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="platformdirs finds the cache folder elsewhere")
def test_a_plain_run_on_linux_finds_its_cache_folder_without_platformdirs(modules):
    assert "platformdirs" not in modules


def test_the_list_is_of_modules_that_exist(modules):
    # A module renamed or removed would pass the tests above for nothing.
    import importlib.util

    missing = [name for name in NOT_FOR_A_PLAIN_RUN if name != "tqdm" and importlib.util.find_spec(name) is None]
    assert missing == []
    assert "pmtimer_harness.core.machine" in modules
