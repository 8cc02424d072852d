"""Records: values made of named fields, written as plain classes.

A record lists its fields in ``__slots__``, in order, and its ``__init__``
takes each under the same name.  ``Record`` then gives it what a value needs:
equality with a record of the same class and fields, a hash of the fields,
``Class(field=value, ...)`` as its repr, ``replace(**changes)`` for a copy
with some fields changed (built through ``__init__``, so its checks run
again), and ``fields()`` for the fields as a dict.

Why not dataclasses: ``@dataclass`` writes its generated methods as source
text and compiles them when the class is defined, about 0.6 ms for a frozen
class on CPython 3.11, and a plain run defines thirty such classes: 18 ms,
a sixth of a one-read run's start-up (docs/limits.md, "Start-up").  A record
costs what any class does.  So every class a plain run defines is a record;
a class that only some commands load (the suite's, the matrix's, the peers')
may stay a dataclass, and ``tests/test_startup_imports.py`` holds a plain
run to not loading ``dataclasses`` at all.

What is given up is enforcement: nothing stops an assignment to a record's
field, so the rule is kept by convention: a record is not changed once
built, except those filled in as a run goes (``Stop``, ``TimeState``,
``Report``, ``RunResult``, ``GuestRun``), which have no hash.  A record does
not subclass another record.
"""

from __future__ import annotations

from typing import Any


class Record:
    """Equality, hash, repr, ``replace`` and ``fields`` from a class's ``__slots__``."""

    __slots__ = ()

    def fields(self) -> dict[str, Any]:
        """Each field by name, in the order ``__slots__`` lists them (not copied: a list field is the record's)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self, **changes: Any) -> Any:
        """A copy with the named fields changed, built as any other: its ``__init__`` checks it again."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        return type(self)(**{**self.fields(), **changes})

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({shown})"


def plain(value: Any) -> Any:
    """``value`` with every record in it turned into a dict, through lists, tuples and dicts, as for JSON."""
    if isinstance(value, Record):
        return {name: plain(field) for name, field in value.fields().items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value
