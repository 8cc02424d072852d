"""The bundled suite and the matrix over every platform, as a user runs them: wall time per way of running.

Each contender is the command run as a process (``python -m pmtimer_harness
suite`` and ``matrix --platforms all``, the assembly cache warm), interleaved
round by round so that a slow spell of the machine falls on all of them:

- the Python path, one guest at a time (``HARNESS_DISPATCH=python -j 1``):
  how the harness ran before the compiled path and worker processes;
- the default dispatch, one guest at a time (``-j 1``): what the compiled
  path alone changes;
- the default dispatch with the default number of workers (the cores there
  are): what a user gets.

Reported: the median wall time of each and its ratio to the first.  No
target: the figures are there to be compared, on the machine that made them.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3
COMMANDS = {
    "suite": ["suite"],
    "matrix --platforms all": ["matrix", "--platforms", "all"],
}
WAYS = {
    "python path, -j 1": ({"HARNESS_DISPATCH": "python"}, ["-j", "1"]),
    "default dispatch, -j 1": ({}, ["-j", "1"]),
    "default dispatch, default -j": ({}, []),
}


def wall_seconds(command: list[str], environment: dict[str, str], jobs: list[str]) -> float:
    env = {key: value for key, value in os.environ.items() if key not in ("HARNESS_DISPATCH", "HARNESS_JOBS")}
    env.update(environment)
    began = time.perf_counter()
    # Exit statuses are the guests' verdicts (the matrix has expected failures): the time is what is measured.
    subprocess.run([sys.executable, "-m", "pmtimer_harness", *command, *jobs], cwd=REPO, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - began


def main() -> int:
    for command in COMMANDS.values():
        wall_seconds(command, {}, ["-j", "1"])  # warms the assembly cache
    samples = {(name, way): [] for name in COMMANDS for way in WAYS}
    for _ in range(ROUNDS):
        for name, command in COMMANDS.items():
            for way, (environment, jobs) in WAYS.items():
                samples[name, way].append(wall_seconds(command, environment, jobs))
    cores = os.cpu_count()
    print(f"Commands as processes, wall time (median of {ROUNDS} interleaved rounds, {cores} cores):")
    for name in COMMANDS:
        first = statistics.median(samples[name, next(iter(WAYS))])
        for way in WAYS:
            median = statistics.median(samples[name, way])
            print(f"  {name:<24} {way:<30} {median:7.2f} s  {median / first:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
