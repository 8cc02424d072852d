"""Peak memory of a runaway guest: one that jumps into zeroed RAM and runs it for ever.

A process runs ``benchmarks/zero_sled.asm`` in 16-bit and in 32-bit mode for
``SECONDS`` of wall-clock budget each, under the virtual clock, as a user runs
it; the peak resident set of each process (``ru_maxrss`` of the child) is
reported.  Every translation block of such a guest is new: what the harness
keeps per block (decoded instructions) and what Unicorn keeps (translated
code) must both stay bounded.  Where Python has no ``resource`` module
(Windows) it says so and measures nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no getrusage
    resource = None

SECONDS = 20
MODES = {16: [], 32: ["--mode", "32", "--load-address", "0x100000", "--memory", "256M"]}


def main() -> int:
    if resource is None:
        print("zero sled: peak memory not measured (no resource module on this OS)")
        return 0
    guest = Path(__file__).with_name("zero_sled.asm")
    for mode, options in MODES.items():
        # ru_maxrss of the children is the largest of any child so far: run each mode in its own process.
        completed = subprocess.run(
            [sys.executable, "-c", _ONE_RUN, str(guest), str(SECONDS), *options],
            capture_output=True, text=True,
        )
        print(f"{mode}-bit zero sled for {SECONDS} s: {completed.stdout.strip() or completed.stderr.strip()}")
    return 0


# Runs the guest as the command line does, then reports its own child's peak.
_ONE_RUN = """
import resource, subprocess, sys
guest, seconds, *options = sys.argv[1:]
completed = subprocess.run(
    [sys.executable, "-m", "pmtimer_harness", "run", guest, "--timeout", seconds,
     "--max-instructions", str(10**12), *options],
    capture_output=True, text=True,
)
counts = next((line for line in completed.stdout.splitlines() if "instructions" in line), completed.stdout[-200:])
# ru_maxrss counts KiB on Linux and the BSDs, bytes on macOS (getrusage(2) of each).
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
print(f"peak RSS {peak_mb:.0f} MB ({counts.strip()})")
"""


if __name__ == "__main__":
    sys.exit(main())
