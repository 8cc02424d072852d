"""The README's sample of the `make run` table and its count of platform profiles.

The sample's rows are what the suite prints, its total counts every guest.
"""

import re

from pmtimer_harness.frontends.cli import main

from tests.guests import REPO

README = REPO / "README.md"
TABLE = re.compile(r"^```\n(guest +expect +verdict.*?)^```", re.MULTILINE | re.DOTALL)


def sample() -> list[str]:
    return TABLE.search(README.read_text()).group(1).splitlines()


def columns_but_wall(line: str) -> list[str]:
    return line.split()[:-2]  # the wall time is the host's, the rest is the guest's


def test_the_sample_rows_are_what_the_suite_prints_for_them(capsys, monkeypatch):
    from pmtimer_harness.frontends.suite import guests_in

    bundled = {guest.name: guest for guest in guests_in([])}
    rows = [line for line in sample() if line.split() and line.split()[0] in bundled]
    assert len(rows) == len([line for line in sample() if line.split() and line.split()[0].endswith((".asm", ".c"))])
    monkeypatch.chdir(REPO)
    main(["suite", *(str(bundled[row.split()[0]]) for row in rows)])
    printed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.split()}
    for row in rows:
        assert columns_but_wall(printed[row.split()[0]]) == columns_but_wall(row)


def test_the_sample_total_counts_every_bundled_guest():
    from pmtimer_harness.frontends.suite import guests_in

    guests = len(guests_in([]))  # NASM and C
    assert f"{guests} of {guests} guests as expected" in sample()


def test_the_readme_counts_the_platform_profiles_there_are():
    from pmtimer_harness.platform.profiles import PROFILES

    assert f"as {len(PROFILES)} platform profiles give it" in " ".join(README.read_text().split())
