"""Answer formats: how a move is written in model text, and how text becomes a legal move.

Matching is robust to case and white space but never guesses: the text must contain an answer
in the configured format whose content names exactly one legal move.
"""

from __future__ import annotations

import re

ANSWER_FORMATS = ("boxed", "bracket")

_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_WORD = re.compile(r"\w+")


def moves_instruction(moves: list[str], answer_format: str) -> str:
    """The line that lists the legal moves, each written as the answer must be written.

    Small models copy what they see: listing `\\boxed{pass} or \\boxed{bet}` (rather than
    `pass, bet` plus an abstract format rule) is what makes SmolLM2-135M answer legally.
    """
    written = [format_answer(move, answer_format) for move in moves]
    listed = written[0] if len(written) == 1 else ", ".join(written[:-1]) + " or " + written[-1]
    return f"Choose one move: {listed}."


def answer_opener(answer_format: str) -> str:
    """The text an answer starts with (`\\boxed{` or `[`), which a template may pre-fill."""
    return format_answer("", answer_format)[:-1]


def answer_closer(answer_format: str) -> str:
    """The text an answer ends with (`}` or `]`)."""
    return format_answer("", answer_format)[-1]


def format_answer(move: str, answer_format: str) -> str:
    """Write a move the way the answer format expects it."""
    if answer_format == "boxed":
        return f"\\boxed{{{move}}}"
    return f"[{move}]"


def normalise(text: str) -> str:
    """Case-folded text with runs of white space collapsed and ends stripped."""
    return " ".join(text.split()).casefold()


def words(text: str) -> list[str]:
    """The text's words, case-folded, punctuation dropped."""
    return _WORD.findall(text.casefold())


def extract_answer(text: str, answer_format: str) -> str | None:
    """The content of the last answer in the text, or None when there is none."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer format {answer_format!r}; choose from {ANSWER_FORMATS}")
    pattern = _BOXED if answer_format == "boxed" else _BRACKET
    found = pattern.findall(text)
    return found[-1] if found else None


def first_answer_end(text: str, answer_format: str) -> int | None:
    """Where the text's first closed answer ends, or None: a model that stops at its answer writes up to here."""
    found = (_BOXED if answer_format == "boxed" else _BRACKET).search(text)
    return found.end() if found else None


def single_answer(text: str, answer_format: str, fold: bool = True) -> str | None:
    """The content of the text's answers when there is at least one and they all agree (white space
    collapsed; case-folded unless `fold` is False), else None: two different answers are no answer."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer format {answer_format!r}; choose from {ANSWER_FORMATS}")
    pattern = _BOXED if answer_format == "boxed" else _BRACKET
    found = {" ".join(a.split()) for a in pattern.findall(text)}
    if fold:
        found = {a.casefold() for a in found}
    return found.pop() if len(found) == 1 else None


def parse_move(text: str, legal_moves: list[str], answer_format: str) -> str | None:
    """The legal move the text names in its last answer, or None (an invalid move)."""
    answer = extract_answer(text, answer_format)
    if answer is None:
        return None
    wanted = normalise(answer)
    matches = [move for move in legal_moves if normalise(move) == wanted]
    return matches[0] if len(matches) == 1 else None
