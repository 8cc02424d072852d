"""Exercise 2 of docs/tutorial-2.md: count asm/rate.asm's port accesses, per port and direction.

Run from the repository's top folder: python docs/solutions/count_accesses.py
"""

from collections import Counter

from pmtimer_harness import PortAccess, run_guest

counts: Counter[tuple[int, str]] = Counter()


def count(access: PortAccess, now_ns: int) -> None:
    counts[access.port, access.direction] += 1


run = run_guest("asm/rate.asm", observer=count)
for (port, direction), number in sorted(counts.items()):
    print(f"port {port:#06x} {direction.upper():<3} {number:>4}")
print(f"{run.guest.name}: {run.result.verdict.value}")
