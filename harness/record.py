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

A record is a value: it is not changed once built (a changed copy comes from
``replace``), except the few filled in as a run goes (``Stop``,
``TimeState``, ``Report``, ``RunResult``, ``GuestRun``), which have no
hash.  Those a user builds and hands to the harness (``MachineConfig``,
``PortWindow``, ``MmioRegion``) are ``FrozenRecord``s, which enforce it: a
later assignment raises ``AttributeError``, as a frozen dataclass's did, so
they stay as checked when built.  The others keep the rule by convention:
the check costs about 0.4 microseconds a field, and a run builds some 1,600
fields of tables (the profiles, their FADT shapes) at start-up.  A record
does not subclass another record.
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


class FrozenRecord(Record):
    """A record whose fields are set once, in ``__init__``: a later assignment raises."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, name):
            raise AttributeError(f"{type(self).__name__}.{name} is set once, when it is built: use replace()")
        object.__setattr__(self, name, value)


def plain(value: Any) -> Any:
    """``value`` with every record in it turned into a dict, through lists, tuples and dicts, as for JSON."""
    if isinstance(value, Record):
        return {name: plain(field) for name, field in value.fields().items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value
