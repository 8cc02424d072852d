"""Imports run down the layers, never up.

The layers, from the bottom; a module may import from its own layer and any below:

0. ``asm`` (the guests' sources, as package data), ``columns`` (text
   layout) and ``record`` (plain value classes): leaves, which import nothing
   of the package;
1. ``devices``: the device models;
2. ``platform``: what real platforms are (the profiles and their sources, the
   ACPI tables' shape, fingerprints);
3. ``core``: the machine (CPU, port bus, board, time, dispatch, snapshots);
4. ``tools``: assembling guests, running them, files and output;
5. ``peers``: QEMU and Bochs, run beside the harness;
6. ``frontends``: the command line, the suite, the matrix, the pytest plugin;
7. the package itself (``pmtimer_harness/__init__.py``, the Python API) and ``__main__``.

Any module may import the package itself (its ``__version__``): Python has
loaded it before any of its modules, and its API loads each name on first use.

Every import counts: at the top of a module, inside a function, or under
``TYPE_CHECKING`` (a type names a dependency too).  Module names come from the
folders as pyproject's ``package-dir`` maps them (``harness/`` is
``pmtimer_harness``, ``devices/`` is ``pmtimer_harness.devices``, ``asm/`` is
``pmtimer_harness.asm``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.guests import REPO

PACKAGE = "pmtimer_harness"
LAYERS = {
    "asm": 0, "columns": 0, "record": 0, "devices": 1, "platform": 2, "core": 3, "tools": 4, "peers": 5, "frontends": 6,
    "__main__": 7,
}
TOP = 7  # the package's own __init__: its API reaches into every layer
# Edges still to go, each with what removes it.
ALLOWED: set[tuple[str, str]] = set()


def package_folders(repo: Path) -> dict[str, Path]:
    """pyproject's ``[tool.setuptools.package-dir]``: package name -> folder."""
    text = (repo / "pyproject.toml").read_text()
    section = re.search(r"^\[tool\.setuptools\.package-dir\]\n(.*?)(?:^\[|\Z)", text, re.S | re.M)
    assert section, "pyproject.toml has no [tool.setuptools.package-dir]"
    pairs = re.findall(r'^"([\w.]+)"\s*=\s*"([\w/.-]+)"', section.group(1), re.M)
    return {package: repo / folder for package, folder in pairs}


def modules(repo: Path) -> dict[str, Path]:
    """Every module of the package: dotted name -> file.  A subpackage's own folder wins over its parent's."""
    found: dict[str, Path] = {}
    for package, folder in sorted(package_folders(repo).items(), key=lambda item: item[0].count(".")):
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that the module ``name`` imports, wherever in it the import stands."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            # ``from package import module`` imports the module; ``from module import name``, the module.
            targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names)
    return {target for target in targets if target == PACKAGE or target.startswith(PACKAGE + ".")}


def layer(module: str) -> int:
    if module == PACKAGE:
        return TOP
    part = module.split(".")[1]
    assert part in LAYERS, f"{module}: give it a layer in tests/test_layers.py"
    return LAYERS[part]


def upward_imports(repo: Path) -> list[str]:
    """Each import of a higher layer's module by a lower layer's, as ``module -> imported``."""
    found = modules(repo)
    upward = []
    for name, path in found.items():
        for target in sorted(imported(name, path, set(found))):
            if target != PACKAGE and layer(target) > layer(name) and (name, target) not in ALLOWED:
                upward.append(f"{name} -> {target}")
    return upward


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports(REPO) == []


def test_every_module_has_a_layer():
    for name in modules(REPO):
        layer(name)


def test_an_import_inside_a_function_counts(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"pmtimer_harness" = "harness"\n"pmtimer_harness.devices" = "devices"\n'
    )
    for folder in ("harness/core", "devices"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "harness" / "__init__.py").write_text("")
    (tmp_path / "harness" / "core" / "machine.py").write_text("")
    (tmp_path / "devices" / "timer.py").write_text(
        "def read():\n    from pmtimer_harness.core import machine\n    return machine\n"
    )
    assert upward_imports(tmp_path) == ["pmtimer_harness.devices.timer -> pmtimer_harness.core.machine"]


def test_the_allowed_edges_still_exist():
    """An edge that went away leaves the list, so that it cannot come back unseen."""
    found = modules(REPO)
    present = {(name, target) for name, path in found.items() for target in imported(name, path, set(found))}
    assert present >= ALLOWED
