"""Plain-text tables: the columns of suite, matrix, differential, platforms and fingerprint --compare.

A table is rows of strings, the first its heading; the columns are two
spaces apart, each as wide as its widest cell.  It imports nothing of the
package, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def aligned(
    rows: Sequence[Sequence[str]], *, right: Collection[int] = (), rule: bool = False, free_last: bool = False,
) -> list[str]:
    """``rows`` as lines, with no trailing spaces.

    ``right``: the columns aligned to the right (figures).  ``rule``: dashes
    under the heading, as wide as each column.  ``free_last``: the last
    column is a note of any length, neither padded nor counted in the widths
    (its dashes are as wide as its heading).
    """
    padded = len(rows[0]) - 1 if free_last else len(rows[0])
    widths = [max(len(row[column]) for row in rows) for column in range(padded)]

    def line(row: Sequence[str]) -> str:
        cells = [cell.rjust(width) if column in right else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row[:padded], widths, strict=True))]
        return "  ".join([*cells, *row[padded:]]).rstrip()

    lines = [line(row) for row in rows]
    if rule:
        lines.insert(1, "  ".join("-" * width for width in [*widths, *map(len, rows[0][padded:])]))
    return lines
