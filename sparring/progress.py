"""Terminal output: the shared console and one progress bar style for every long job."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


console = Console(width=None if sys.stdout.isatty() else 120)  # logs and pipes get full rows


def verbose() -> bool:
    """Whether the libraries' start-up output is shown (`--verbose`, or SPARRING_VERBOSE=1)."""
    return os.environ.get("SPARRING_VERBOSE") == "1"


def progress_bar(transient: bool = False) -> Progress:
    """A bar that shows done/total, elapsed and remaining time, and a `stats` text field."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        transient=transient,
        console=console,
    )
