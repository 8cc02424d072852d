"""Options the peer commands share: lists of choices and a bounded timeout."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

MAX_TIMEOUT_S = 24 * 3600.0


def choice(allowed: Sequence[str]) -> Callable[[str], str]:
    """One of ``allowed``."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(allowed)}")
        return text

    return parse


def choices(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """A comma-separated list drawn from ``allowed``, in the order given, without repeats."""

    def parse(text: str) -> list[str]:
        picked = [item.strip() for item in text.split(",") if item.strip()]
        if not picked:
            raise argparse.ArgumentTypeError(f"name at least one of {', '.join(allowed)}")
        for item in picked:
            if item not in allowed:
                raise argparse.ArgumentTypeError(f"{item!r} is not one of {', '.join(allowed)}")
        return list(dict.fromkeys(picked))

    return parse


def timeout_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S):
        raise argparse.ArgumentTypeError(f"the timeout must be more than 0 and at most {MAX_TIMEOUT_S:.0f} seconds")
    return value


def add_timeout(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--timeout", type=timeout_seconds, default=60.0, help=help_text)
