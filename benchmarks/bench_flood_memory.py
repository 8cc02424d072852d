"""Peak memory of a run whose guest floods the console, with --json, as a user runs it.

A process runs ``benchmarks/flood.asm`` (``out 0xE9, al`` without end) for
``SECONDS`` of wall-clock budget and prints its JSON result; the peak
resident set of that process (``ru_maxrss`` of the child) is reported against
the 300 MB target.  Where Python has no ``resource`` module (Windows) it
says so and measures nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

try:
    import resource
except ImportError:  # Windows: no getrusage
    resource = None

SECONDS = 30
TARGET_MB = 300


def peak_mb_of_children() -> float:
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss counts KiB on Linux and the BSDs, bytes on macOS (getrusage(2) of each).
    return peak / (1 << 20) if sys.platform == "darwin" else peak / (1 << 10)


def main() -> int:
    if resource is None:
        print("console flood: peak memory not measured (no resource module on this OS)")
        return 0
    guest = Path(__file__).with_name("flood.asm")
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pmtimer_harness", "run", str(guest), "--json", "--timeout", str(SECONDS),
         "--max-instructions", str(10**12)],
        capture_output=True, text=True,
    )
    wall = time.perf_counter() - began
    peak_mb = peak_mb_of_children()
    notes = [line for line in completed.stderr.splitlines() if "console:" in line]
    verdict = "within target" if peak_mb < TARGET_MB else "OVER TARGET"
    print(f"console flood for {SECONDS} s with --json: peak RSS {peak_mb:.0f} MB (target {TARGET_MB} MB: {verdict}),"
          f" {len(completed.stdout) / 1e6:.1f} MB of JSON, {wall:.1f} s wall")
    for note in notes:
        print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
