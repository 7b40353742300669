"""The static check a task program must pass before it is run: a filter, not a security boundary.

    check_program("def f(x):\\n    return x + 1")   # None: fine
    check_program("import os")                      # "imports a module that is not allowed: os"

A program passes when it parses, imports only modules from `ALLOWED_MODULES` (pure, deterministic
computation), names no builtin that reaches outside the program (`BANNED_NAMES`: ``open``,
``eval``, ``exec``, ``__import__``, ``getattr``...) and touches no dunder attribute or name
(``__class__``, ``__globals__``, ``__builtins__``...), which is how Python sandboxes are escaped.
The sandbox (`sparring.judges.sandbox`) contains whatever slips through; this check makes bad
programs fail fast, with a reason, and keeps tasks about computation.
"""

from __future__ import annotations

import ast

ALLOWED_MODULES = frozenset({
    "math", "cmath", "itertools", "functools", "collections", "heapq", "bisect", "string", "re",
    "operator", "typing", "fractions", "decimal", "copy", "dataclasses", "enum",
})
BANNED_NAMES = frozenset({
    "open", "eval", "exec", "compile", "__import__", "input", "breakpoint", "globals", "locals",
    "vars", "getattr", "setattr", "delattr", "exit", "quit", "help", "memoryview", "dir", "id",
    "hash",  # str hashes change with every process (PYTHONHASHSEED): never deterministic
})
MAX_SOURCE_CHARS = 10_000


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def check_program(source: str, required_function: str | None = None) -> str | None:
    """None if the program may run; otherwise the reason it may not, in one line."""
    if len(source) > MAX_SOURCE_CHARS:
        return f"longer than {MAX_SOURCE_CHARS} characters"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        return f"does not parse: {type(error).__name__}: {getattr(error, 'msg', error)}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if node.level == 0 else ["." * node.level]
        else:
            modules = []
        for module in modules:
            if module.split(".")[0] not in ALLOWED_MODULES:
                return f"imports a module that is not allowed: {module}"
        if isinstance(node, ast.Name) and (node.id in BANNED_NAMES or _dunder(node.id)):
            return f"uses a name that is not allowed: {node.id}"
        if isinstance(node, ast.Attribute) and _dunder(node.attr):
            return f"uses an attribute that is not allowed: {node.attr}"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _dunder(node.name):
            return f"defines a special method: {node.name}"
        if isinstance(node, ast.alias) and (node.name in BANNED_NAMES or _dunder(node.name)):
            return f"imports a name that is not allowed: {node.name}"
    if required_function is not None:
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if required_function not in defined:
            return f"defines no top-level function {required_function}()"
    return None
