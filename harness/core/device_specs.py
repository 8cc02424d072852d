"""A user's device named in text: ``--device``, ``harness_devices``, a guest's header, a snapshot's record.

A SPEC is one of::

    module:Class                      the class, built with no arguments
    module:Class,port=0x510,step=2    keyword arguments, each value a Python literal
    NAME                              an installed package's device, by name (the
    NAME,port=0x510                   ``pmtimer_harness.devices`` entry-point group)

Values are read by ``ast.literal_eval`` (numbers, strings, tuples, lists,
dicts, True/False/None): nothing in a SPEC is run.  The module is imported
as Python imports any module: from an installed package, or a folder on
``PYTHONPATH``; the guest's folder is not searched.  Every mistake is a
``ConfigError`` of one line, naming the SPEC.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from pmtimer_harness.core.bus import Device
from pmtimer_harness.core.config import ConfigError

ENTRY_POINT_GROUP = "pmtimer_harness.devices"


@dataclass(frozen=True)
class UserDevice:
    """A device the user attached, and the SPEC a snapshot rebuilds it from."""

    spec: str
    device: Device


def class_path(device: object) -> str:
    """``module:Class`` of the device's class: what a device given as an object is rebuilt from."""
    kind = type(device)
    return f"{kind.__module__}:{kind.__qualname__}"


def split_spec(spec: str) -> tuple[str, dict[str, object]]:
    """The target (``module:Class`` or NAME) and the keyword arguments of a SPEC."""
    target, _, arguments = spec.strip().partition(",")
    target = target.strip()
    if not target:
        raise ConfigError(f"--device {spec!r}: give module:Class or an installed device's name")
    if not arguments.strip():
        return target, {}
    try:
        call = ast.parse(f"f({arguments})", mode="eval").body
    except SyntaxError:
        raise ConfigError(f"--device {spec!r}: arguments are key=value, separated by commas") from None
    if not isinstance(call, ast.Call) or call.args or any(keyword.arg is None for keyword in call.keywords):
        raise ConfigError(f"--device {spec!r}: arguments are key=value, separated by commas")
    keywords = {}
    for keyword in call.keywords:
        try:
            keywords[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ConfigError(f"--device {spec!r}: {keyword.arg}= is not a Python literal "
                              "(quote strings: name='x')") from None
    return target, keywords


def _named(target: str, spec: str) -> str:
    """``module:Class`` of an installed device NAME, from the entry-point group."""
    from importlib.metadata import entry_points  # only a SPEC without a colon reads the installed metadata

    found = [point for point in entry_points(group=ENTRY_POINT_GROUP) if point.name == target]
    if not found:
        raise ConfigError(f"--device {spec!r}: no installed package offers a device named {target!r} "
                          f"(entry-point group {ENTRY_POINT_GROUP}); or give module:Class")
    return found[0].value


def device_factory(spec: str) -> tuple[object, dict[str, object]]:
    """What a SPEC builds: the class (or other callable) and its keyword arguments."""
    target, keywords = split_spec(spec)
    if ":" not in target:
        target = _named(target, spec)
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--device {spec!r}: give module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"--device {spec!r}: cannot import {module_name}: {error} "
                          "(is its folder on PYTHONPATH, or its package installed?)") from None
    except Exception as error:  # the user's module failed while it was imported
        raise ConfigError(f"--device {spec!r}: importing {module_name} raised "
                          f"{type(error).__name__}: {_one_line(error)}") from None
    factory: object = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise ConfigError(f"--device {spec!r}: module {module_name} has no {attribute}")
    if not callable(factory):
        raise ConfigError(f"--device {spec!r}: {attribute} is a {type(factory).__name__}, not a class")
    return factory, keywords


def build_device(spec: str) -> Device:
    """A fresh device from its SPEC: each run gets its own."""
    factory, keywords = device_factory(spec)
    try:
        device = factory(**keywords)  # type: ignore[operator]
    except Exception as error:  # the user's constructor: any failure is their mistake, said in one line
        raise ConfigError(f"--device {spec!r}: building it raised {type(error).__name__}: {_one_line(error)}") from None
    return device  # type: ignore[return-value]


def user_devices(devices: Sequence[Device | str]) -> list[UserDevice]:
    """Devices given as objects or SPECs, each with the SPEC a snapshot records for it."""
    return [
        UserDevice(given, build_device(given)) if isinstance(given, str) else UserDevice(class_path(given), given)
        for given in devices
    ]


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else "(no message)"
