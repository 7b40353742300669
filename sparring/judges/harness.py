"""The trusted harness in the program's process: standard library only, never imported by sparring.

`boot.py` execs ``python -s -S -B -P -`` with this file on stdin. It reads the run's key from fd 3
and closes it, reads ``job.json`` ({"source": ..., "calls": [[argument text, ...], ...] or null}),
binds everything it needs, and only then runs the program's code, in a namespace of its own. With
calls, it calls ``f`` on each call's arguments (each a Python literal, read with
`ast.literal_eval`), encodes every result itself (exact built-in types only: a subclass, a custom
``__repr__`` or a shadowed ``repr`` changes nothing) and writes the key, then one result per line, to
fd 4, then the key again. The program never sees the key, the results list or the encoder: they live in this module's
function frames, not in the program's namespace.
"""


def main():
    import ast
    import json
    import os

    key = os.read(3, 256)
    os.close(3)
    with open("job.json", encoding="utf-8") as handle:
        job = json.load(handle)
    calls = None if job["calls"] is None else [tuple(ast.literal_eval(a) for a in args) for args in job["calls"]]
    write, encode = os.write, encoder()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(job["source"], "program.py", "exec"), namespace)
    if calls is None:
        return
    function = namespace.get("f")
    lines = [encode(function(*args)) for args in calls]
    # The key closes the message too: bytes appended later (an atexit hook, a finaliser) void it.
    payload = key + "\n".join(lines).encode("utf-8", "backslashreplace") + key
    while payload:
        payload = payload[write(4, payload):]


def encoder():
    """A function from a plain Python value to its literal text, made of references bound now."""
    text, kind_of, ordered, size, join = repr, type, sorted, len, ", ".join
    plain = (bool, int, float, complex, str, bytes)

    def encode(value, depth=0):
        kind = kind_of(value)
        if value is None or kind in plain:
            return text(value)
        if depth > 64:
            raise ValueError("the result is nested more than 64 deep")
        if kind is list:
            return "[" + join([encode(v, depth + 1) for v in value]) + "]"
        if kind is tuple:
            return "(" + join([encode(v, depth + 1) for v in value]) + ("," if size(value) == 1 else "") + ")"
        if kind is dict:
            return "{" + join([encode(k, depth + 1) + ": " + encode(v, depth + 1) for k, v in value.items()]) + "}"
        if kind is set:
            return "{" + join(ordered(encode(v, depth + 1) for v in value)) + "}" if value else "set()"
        raise TypeError(f"f returned a {kind.__name__}, not a plain Python value")

    return encode


main()
