"""Python literals as task games use them: the arguments of a call of ``f``, values, equality.

Everything here reads text with `ast.literal_eval` only, which evaluates no code, so it is safe
in the trainer's process; programs themselves only ever run in the sandbox.
"""

from __future__ import annotations

import ast

FUNCTION = "f"
MAX_LITERAL_CHARS = 2000


def _call(text: str) -> tuple[str, ast.Call] | None:
    """``f(text)`` parsed, when it is exactly one call of the bare name ``f``, without keywords or
    stars (so ``1).__add__(0`` or ``g(1)`` never pass as arguments)."""
    if len(text) > MAX_LITERAL_CHARS:
        return None
    source = f"{FUNCTION}({text})"
    try:
        call = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if (not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id != FUNCTION
            or call.keywords or any(isinstance(a, ast.Starred) for a in call.args)):
        return None
    return source, call


def literal_args(text: str) -> tuple | None:
    """The argument values of ``f(text)`` when every argument is a Python literal, else None."""
    parsed = _call(text)
    if parsed is None:
        return None
    try:
        return tuple(ast.literal_eval(arg) for arg in parsed[1].args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def argument_texts(text: str) -> list[str] | None:
    """The source text of each argument of ``f(text)`` (each a Python literal), else None: what the
    sandbox's harness reads back with `ast.literal_eval`, never as code."""
    if literal_args(text) is None:
        return None
    source, call = _call(text)
    return [ast.get_source_segment(source, arg) for arg in call.args]


def literal_value(text: str) -> tuple[bool, object]:
    """(True, value) when `text` is one Python literal, else (False, None)."""
    if len(text) > 64 * 1024:
        return False, None
    try:
        return True, ast.literal_eval(text.strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def same_value(a: str, b: str) -> bool:
    """Whether two literal texts denote equal values (``"[1,2]"`` and ``"[1, 2]"`` do)."""
    if a.strip() == b.strip():
        return True
    ok_a, va = literal_value(a)
    ok_b, vb = literal_value(b)
    try:
        return ok_a and ok_b and type(va) is type(vb) and bool(va == vb)
    except Exception:  # a comparison of odd values must not raise into the trainer
        return False
