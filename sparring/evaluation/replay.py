"""Transcripts a person can read: a match turn by turn in the terminal, or all matches as HTML.

A transcript file is JSONL, one match per line, as written by `PlayedMatch.record()`
(``sparring arena --out``, the trainer's RUN_DIR/transcripts/step_N.jsonl): game, seed, seats,
turns [{seat, role, prompt, text, move}], returns.

    replay("runs/kuhn/transcripts/step_000010.jsonl", match=3)
    write_html("runs/kuhn/transcripts/step_000010.jsonl", "step10.html")
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from sparring.errors import SparringError

__all__ = ["load_transcripts", "replay", "write_html"]


def load_transcripts(path: str | Path) -> list[dict[str, Any]]:
    """The match records of a transcript file; a missing or malformed file is a SparringError."""
    file = Path(path)
    if not file.is_file():
        raise SparringError(f"transcript file not found: {file}")
    records = []
    for number, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise SparringError(f"{file}:{number} is not valid JSON; is this a transcript file?") from None
        if not isinstance(record, dict) or not isinstance(record.get("turns"), list):
            raise SparringError(f"{file}:{number} is not a match record (no 'turns' list)")
        records.append(record)
    if not records:
        raise SparringError(f"{file} holds no matches")
    return records


def _records(transcripts: str | Path | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return transcripts if isinstance(transcripts, list) else load_transcripts(transcripts)


def _who(record: dict[str, Any], seat: int) -> str:
    seats = record.get("seats") or []
    return seats[seat] if seat < len(seats) else f"seat {seat}"


def _returns_text(record: dict[str, Any]) -> str:
    returns = record.get("returns")
    if returns is None:
        return "unfinished"
    roles = {t["seat"]: t.get("role", f"seat {t['seat']}") for t in record["turns"]}
    return ", ".join(f"{roles.get(s, f'seat {s}')} ({_who(record, s)}): {r:+g}" for s, r in enumerate(returns))


def replay(transcripts: str | Path | list[dict[str, Any]], match: int = 0, console=None,
           prompts: bool = True) -> None:
    """Print match number `match` (0-based) turn by turn: prompt, raw text, parsed move, returns."""
    from rich.panel import Panel
    from rich.text import Text

    records = _records(transcripts)
    if not 0 <= match < len(records):
        raise SparringError(f"no match {match}: the file holds matches 0 to {len(records) - 1}")
    record = records[match]
    from sparring.progress import console as shared_console

    console = console or shared_console
    seats = ", ".join(f"seat {s}: {name}" for s, name in enumerate(record.get("seats") or []))
    console.rule(f"[bold]match {match} of {len(records)}[/bold]: {record.get('game', '?')}, seed {record.get('seed', '?')}")
    if seats:
        console.print(seats)
    for number, turn in enumerate(record["turns"], 1):
        role = turn.get("role", f"seat {turn['seat']}")
        title = f"turn {number}: {role} ({_who(record, turn['seat'])})"
        if prompts and turn.get("prompt"):
            console.print(Panel(Text(turn["prompt"], style="dim"), title=title + " sees", title_align="left"))
        else:
            console.print(f"[bold]{title}[/bold]")
        raw = turn.get("text", "")
        console.print(Text("  answer: ") + (Text(raw, style="cyan") if raw.strip() else Text("(empty)", style="dim")))
        move = turn.get("move")
        console.print(Text("  move:   ") + (Text(move, style="bold green") if move is not None
                                          else Text("INVALID", style="bold red")))
    console.print(f"[bold]returns[/bold]: {_returns_text(record)}")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; color: #222; }
details { border: 1px solid #ccc; border-radius: 6px; margin: 0.6em 0; padding: 0.4em 0.8em; }
summary { cursor: pointer; font-weight: 600; }
.turn { border-left: 3px solid #88a; margin: 0.8em 0; padding-left: 0.8em; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 0.5em; border-radius: 4px; margin: 0.3em 0; }
.text { background: #eef6ff; }
.move { color: #060; font-weight: 600; }
.invalid { color: #b00; font-weight: 600; }
.returns { margin-top: 0.6em; }
"""


def write_html(transcripts: str | Path | list[dict[str, Any]], out: str | Path, title: str | None = None) -> Path:
    """One self-contained HTML page listing every match (a collapsible section each); all text escaped."""
    records = _records(transcripts)
    esc = html.escape
    heading = title or (f"Transcripts: {Path(transcripts).name}" if not isinstance(transcripts, list) else "Transcripts")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(heading)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(heading)}</h1>",
        f"<p>{len(records)} matches.</p>",
    ]
    for index, record in enumerate(records):
        invalid = sum(turn.get("move") is None for turn in record["turns"])
        seats = " vs ".join(record.get("seats") or [])
        summary = (f"match {index}: {record.get('game', '?')}, seed {record.get('seed', '?')}"
                   f"{', ' + seats if seats else ''}, {len(record['turns'])} turns"
                   f"{f', {invalid} invalid' if invalid else ''}; returns {_returns_text(record)}")
        parts.append(f"<details><summary>{esc(summary)}</summary>")
        for number, turn in enumerate(record["turns"], 1):
            role = turn.get("role", f"seat {turn['seat']}")
            move = turn.get("move")
            shown = (f'<span class="move">{esc(move)}</span>' if move is not None
                     else '<span class="invalid">INVALID</span>')
            parts.append(
                f'<div class="turn"><div><b>turn {number}</b>: {esc(role)} ({esc(_who(record, turn["seat"]))})</div>'
                f"<div>prompt:</div><pre>{esc(turn.get('prompt', ''))}</pre>"
                f"<div>answer:</div><pre class=\"text\">{esc(turn.get('text', ''))}</pre>"
                f"<div>move: {shown}</div></div>"
            )
        parts.append(f'<div class="returns"><b>returns</b>: {esc(_returns_text(record))}</div></details>')
    parts.append("</body></html>")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
