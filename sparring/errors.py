"""The one error type users see: a single line that says what is wrong and what would work."""

from __future__ import annotations

import difflib


class SparringError(Exception):
    """A user-facing error. The command line prints its message as one line and exits 2."""


def unknown_name_error(kind: str, name: str, known: list[str]) -> SparringError:
    """`unknown game 'kuhn' (closest: kuhn_poker, leduc_poker)`, listing the nearest valid names."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.4) or sorted(known)[:5]
    return SparringError(f"unknown {kind} {name!r} (closest: {', '.join(close)})")
