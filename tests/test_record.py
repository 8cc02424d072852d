"""Records: the value semantics a dataclass gave, from ``__slots__`` alone."""

from __future__ import annotations

import pickle

import pytest
from pmtimer_harness.record import FrozenRecord, Record, plain


class Reading(Record):
    __slots__ = ("port", "value", "notes")

    def __init__(self, port: int, value: int = 0, notes: list[str] | None = None) -> None:
        self.port = port
        self.value = value
        self.notes = [] if notes is None else notes
        if port < 0:
            raise ValueError("a port is not negative")


class Other(Record):
    __slots__ = ("port", "value", "notes")

    def __init__(self, port: int, value: int = 0, notes: tuple[str, ...] = ()) -> None:
        self.port = port
        self.value = value
        self.notes = notes


def test_records_of_one_class_are_equal_when_their_fields_are():
    assert Reading(0x408, 7) == Reading(0x408, 7)
    assert Reading(0x408, 7) != Reading(0x408, 8)
    assert Reading(0x408, 7, ["a"]) != Reading(0x408, 7, ["b"])


def test_a_record_is_never_equal_to_another_class_with_the_same_fields():
    assert Reading(1, 2, []) != Other(1, 2, [])  # type: ignore[arg-type]
    assert Reading(1, 2) != (1, 2, [])


def test_equal_records_hash_alike_and_work_as_keys():
    assert hash(Other(1, 2)) == hash(Other(1, 2))
    assert {Other(1, 2): "x"}[Other(1, 2)] == "x"


def test_the_repr_names_every_field_in_order():
    assert repr(Reading(0x408, 7)) == "Reading(port=1032, value=7, notes=[])"


def test_replace_changes_the_named_fields_and_runs_the_checks_again():
    first = Reading(1, 2, ["kept"])
    assert first.replace(value=3) == Reading(1, 3, ["kept"])
    assert first.value == 2
    with pytest.raises(ValueError, match="negative"):
        first.replace(port=-1)


def test_replace_refuses_a_field_the_record_does_not_have():
    with pytest.raises(TypeError, match="Reading has no field colour"):
        Reading(1).replace(colour="red")


class Frozen(FrozenRecord):
    __slots__ = ("port", "value")

    def __init__(self, port: int, value: int = 0) -> None:
        self.port = port
        self.value = value


def test_a_frozen_record_s_field_is_set_once_and_it_stays_findable_in_a_set():
    reading = Frozen(1, 2)
    held = {reading}
    with pytest.raises(AttributeError, match=r"Frozen.value is set once, when it is built: use replace\(\)"):
        reading.value = 3
    assert reading.value == 2 and reading in held
    assert reading.replace(value=3) == Frozen(1, 3)


def test_the_public_values_refuse_a_change_that_would_skip_their_checks():
    from pmtimer_harness import MachineConfig, PortWindow

    config, window = MachineConfig(), PortWindow(0x300, 1)
    with pytest.raises(AttributeError, match="set once"):
        config.timeout = -1
    with pytest.raises(AttributeError, match="set once"):
        window.base = 0x12345
    assert config.timeout > 0 and window.base == 0x300


def test_a_record_filled_in_as_a_run_goes_may_change_and_has_no_hash():
    from pmtimer_harness.core.result import RunResult, Verdict

    result = RunResult(Verdict.PASS, 0, "", 1, 1, 0, 0, 0.0)
    result.console = "changed"
    assert result.console == "changed"
    with pytest.raises(TypeError, match="unhashable"):
        hash(result)


def test_plain_turns_records_into_dicts_through_containers():
    nested = {"reads": [Reading(1, 2, ["n"])], "pair": (Other(3),)}
    assert plain(nested) == {"reads": [{"port": 1, "value": 2, "notes": ["n"]}],
                             "pair": ({"port": 3, "value": 0, "notes": ()},)}


def test_a_record_has_no_instance_dict_and_survives_pickling():
    reading = Reading(0x408, 7, ["n"])
    assert not hasattr(reading, "__dict__")
    assert pickle.loads(pickle.dumps(reading)) == reading
