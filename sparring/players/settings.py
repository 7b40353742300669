"""The prompt and sampling settings a model player (``lm:`` in this process, ``api:`` served) answers with."""

from __future__ import annotations

from sparring.errors import SparringError
from sparring.games.templates import TEMPLATES

MOVES = ("free", "legal")  # how a model answers a decision with legal moves: writes text, or scores them


def check_settings(template: str, moves: str, max_new_tokens: int, temperature: float, top_p: float,
                   greedy: bool) -> None:
    """A one-line error for prompt and sampling settings no model player can answer with."""
    if template not in TEMPLATES:
        raise SparringError(f"unknown prompt template {template!r} (choose from: {', '.join(TEMPLATES)})")
    if moves not in MOVES:
        raise SparringError(f"unknown moves {moves!r} (choose from: {', '.join(MOVES)})")
    if moves == "legal" and not TEMPLATES[template].prefill_answer:
        raise SparringError(f"moves=legal scores the answer a reply starts with; template {template!r} has the model "
                            "write before it answers: use the short template")
    if max_new_tokens < 1:
        raise SparringError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    if not greedy and temperature <= 0:
        raise SparringError(f"temperature must be positive, got {temperature} (use greedy=True for argmax)")
    if not 0 < top_p <= 1:
        raise SparringError(f"top_p must be in (0, 1], got {top_p}")
