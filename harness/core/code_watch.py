"""Self-modifying code: which guest bytes hold decoded blocks, watched for stores.

The virtual clock counts instructions from each translation block's decoding
(``blocks.py``).  When the guest stores over code it has run, that decoding
is stale; QEMU, under Unicorn, notices the same store and translates the code
again (and, when the store hits the block running now, abandons that block
after the store: "precise SMC", qemu/qemu: accel/tcg/translate-all.c,
``tb_invalidate_phys_page_range__locked``).  So the harness watches the bytes
of every block it decoded with Unicorn write hooks, one per run of adjacent
code, and hears of each such store before it lands.

Stores elsewhere (the stack, a guest's variables) cost a range check in C and
no Python.  Past ``MAX_RANGES`` separate runs of code, one range spans them
all: stores between them then reach Python too, which is slower, never wrong.
"""

from __future__ import annotations

import bisect

from pmtimer_harness.core.native_hooks import NativeHooks, WriteHook

MAX_RANGES = 64


class CodeWatch:
    def __init__(self, hooks: NativeHooks, on_write: WriteHook) -> None:
        self._hooks = hooks
        self._on_write = on_write
        self._begins: list[int] = []  # sorted, with _ends: disjoint, non-adjacent [begin, end) ranges
        self._ends: list[int] = []
        self._handles: list[object] = []
        self.rehooks = 0  # how often a range was replaced: each costs Unicorn a hook entry until the run stops

    def watch(self, begin: int, end: int) -> None:
        """Hear of every store into ``begin``..``end - 1`` from now on."""
        if end <= begin:
            return
        first = bisect.bisect_left(self._ends, begin)  # the first range ending at or after begin
        last = bisect.bisect_right(self._begins, end)  # ranges from first up to last touch [begin, end]
        if first < last and self._begins[first] <= begin and end <= self._ends[first]:
            return  # already watched
        if first < last:
            begin = min(begin, self._begins[first])
            end = max(end, self._ends[last - 1])
        for handle in self._handles[first:last]:
            self._hooks.remove(handle)
            self.rehooks += 1
        self._begins[first:last] = [begin]
        self._ends[first:last] = [end]
        self._handles[first:last] = [self._hooks.on_write(self._on_write, begin, end - 1)]
        if len(self._begins) > MAX_RANGES:
            self._span_all()

    def _span_all(self) -> None:
        for handle in self._handles:
            self._hooks.remove(handle)
        begin, end = self._begins[0], self._ends[-1]
        self._begins, self._ends = [begin], [end]
        self._handles = [self._hooks.on_write(self._on_write, begin, end - 1)]

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._begins, self._ends, strict=True))


