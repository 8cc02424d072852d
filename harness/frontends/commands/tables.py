"""``tables``: the ACPI tables the machine gives its guests, decoded."""

from __future__ import annotations

import argparse
import json

from pmtimer_harness.core.board import Board
from pmtimer_harness.platform.acpi_tables import describe, dump
from pmtimer_harness.tools.options import add_machine_options, machine_config


def add_to(commands: argparse._SubParsersAction) -> None:
    tables = commands.add_parser("tables", help="dump the ACPI tables the machine gives its guests")
    tables.add_argument("--json", action="store_true",
                        help="print a JSON list: each table's name, address, decoded fields and bytes (hex)")
    add_machine_options(tables, devices=False)  # the board's tables: no guest runs
    tables.set_defaults(handler=command_tables)


def command_tables(args: argparse.Namespace) -> int:
    tables = Board(machine_config((), args)).acpi_tables
    if not args.json:
        print(dump(tables), end="")
        return 0
    listing = [
        {
            "name": table.name,
            "address": table.address,
            "length": len(table.data),
            "fields": [line.strip() for line in describe(table)],
            "data": table.data.hex(),
        }
        for table in tables
    ]
    print(json.dumps(listing, indent=2))
    return 0
