"""The static check a task program must pass before it is run: a filter, not a security boundary.

    check_program("def f(x):\\n    return x + 1")   # None: fine
    check_program("import os")                      # "imports a module that is not allowed: os"

A program passes when it parses, imports only modules from `ALLOWED_MODULES` (pure, deterministic
computation), and refuses every way the review found of reaching outside them: no builtin that
reaches outside the program (`BANNED_NAMES`: ``open``, ``eval``, ``getattr``...), as a name, an
attribute or an imported name; no dunder (``__class__``, ``__globals__``), no private attribute
(``_getframe``, ``_frozen_importlib``); no attribute that leads to a module or a frame
(`BANNED_ATTRIBUTES`: ``typing.sys``, ``tb_frame``...); no string that names a dunder (the way
``operator.attrgetter('__self__')`` or ``string.Formatter().get_field('0.__class__')`` reach one);
no class pattern that matches on a dunder attribute. The sandbox (`sparring.judges.sandbox`)
contains whatever slips through; this check makes bad programs fail fast, with a reason, and keeps
tasks about computation.
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
# Attributes that lead out of the allowed modules (to sys, os, importlib, frames, code objects) or
# evaluate attribute paths held in strings.
BANNED_ATTRIBUTES = BANNED_NAMES | frozenset({
    "sys", "os", "modules", "builtins", "importlib", "posix", "io", "gc", "inspect", "types", "ctypes",
    "subprocess", "signal", "socket", "time", "random", "threading", "pickle", "marshal", "copyreg",
    "attrgetter", "methodcaller", "Formatter", "get_field", "vformat", "format_field", "mro",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "tb_frame", "tb_next", "gi_frame",
    "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "co_code", "co_consts", "func_globals",
})
MAX_SOURCE_CHARS = 10_000


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def _refusal(node: ast.AST) -> str | None:
    """Why this one node may not appear, or None."""
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
    if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in BANNED_ATTRIBUTES):
        return f"uses an attribute that is not allowed: {node.attr}"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _dunder(node.name):
        return f"defines a special method: {node.name}"
    if isinstance(node, ast.alias) and (node.name.split(".")[-1] in BANNED_ATTRIBUTES or node.name.startswith("_")
                                        or "._" in node.name):
        return f"imports a name that is not allowed: {node.name}"
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
        if "__" in text:
            return "a string names a special attribute (contains '__')"
    if isinstance(node, ast.MatchClass) and any(k.startswith("_") for k in node.kwd_attrs):
        return "a class pattern matches on a private attribute"
    return None


def check_program(source: str, required_function: str | None = None) -> str | None:
    """None if the program may run; otherwise the reason it may not, in one line."""
    if len(source) > MAX_SOURCE_CHARS:
        return f"longer than {MAX_SOURCE_CHARS} characters"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        return f"does not parse: {type(error).__name__}: {getattr(error, 'msg', error)}"
    for node in ast.walk(tree):
        reason = _refusal(node)
        if reason is not None:
            return reason
    if required_function is not None:
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if required_function not in defined:
            return f"defines no top-level function {required_function}()"
    return None
