"""``tables``: the ACPI tables the machine gives its guests, decoded."""

from __future__ import annotations

import argparse

from pmtimer_harness.platform.acpi_tables import dump
from pmtimer_harness.platform.board import Board
from pmtimer_harness.tools.options import add_machine_options, machine_config


def add_to(commands: argparse._SubParsersAction) -> None:
    tables = commands.add_parser("tables", help="dump the ACPI tables the machine gives its guests")
    add_machine_options(tables)
    tables.set_defaults(handler=command_tables)


def command_tables(args: argparse.Namespace) -> int:
    config = machine_config((), args)
    print(dump(Board(config).acpi_tables), end="")
    return 0
