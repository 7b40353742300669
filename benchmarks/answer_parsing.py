"""Answer parsing on hostile texts: the task games' boxed-answer extractor before and after it became linear.

    .venv/bin/python benchmarks/answer_parsing.py                   # old scan at 20 KB only (about 2 minutes)
    .venv/bin/python benchmarks/answer_parsing.py --formats boxed   # the issue's case alone (seconds)
    .venv/bin/python benchmarks/answer_parsing.py --old-max-kb 100  # the old scan at 100 KB too (the bracket format: hours)

Hostile texts: an answer opener repeated and never closed (``\\boxed{`` for the boxed format, ``[`` for
the bracket format), 20 KB and 100 KB of it. The old extractor scanned from every opener to the end of
the text (quadratic); `sparring.games.task_games.extract_box` matches every bracket once. The regex
extractors of `sparring.games.answer` (`extract_answer`, `single_answer`) are timed on the same texts
for comparison. Each time is the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sparring.games.answer import extract_answer, single_answer
from sparring.games.task_games import extract_box

OPENERS = {"boxed": "\\boxed{", "bracket": "["}


def old_extract_box(text: str, answer_format: str) -> str | None:
    """extract_box as it was before commit 'extract_box in linear time': a scan from every opener."""
    opener, open_char, close_char = ("\\boxed{", "{", "}") if answer_format == "boxed" else ("[", "[", "]")
    found = None
    start = text.find(opener)
    while start != -1:
        depth, i = 0, start + len(opener) - 1
        while i < len(text):
            depth += {open_char: 1, close_char: -1}.get(text[i], 0)
            if depth == 0:
                found = text[start + len(opener): i]
                break
            i += 1
        if answer_format != "boxed" and found is not None:
            return found
        start = text.find(opener, start + 1)
    return found


def hostile(answer_format: str, kb: int) -> str:
    """`kb` kilobytes of the format's answer opener, never closed."""
    opener = OPENERS[answer_format]
    return opener * (kb * 1000 // len(opener))


def best_time(parse: Callable[[str, str], object], text: str, answer_format: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        parse(text, answer_format)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=list(OPENERS), choices=list(OPENERS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100], help="hostile text sizes in KB")
    parser.add_argument("--old-max-kb", type=int, default=20,
                        help="time the old quadratic scan only up to this size (its bracket run at 20 KB takes over a minute)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per new-extractor timing (best is kept)")
    args = parser.parse_args()
    print("| format | size | old extract_box | extract_box | old / new | extract_answer | single_answer |")
    print("|---|---|---|---|---|---|---|")
    for answer_format in args.formats:
        for kb in args.sizes:
            text = hostile(answer_format, kb)
            new = best_time(extract_box, text, answer_format, args.repeats)
            regex = [best_time(f, text, answer_format, args.repeats) for f in (extract_answer, single_answer)]
            old = best_time(old_extract_box, text, answer_format, 1) if kb <= args.old_max_kb else None
            old_time, ratio = ("not run", "-") if old is None else (f"{old:.2f} s", f"{old / new:,.0f}x")
            cells = [answer_format, f"{kb} KB", old_time, f"{1000 * new:.1f} ms", ratio,
                     *(f"{1000 * t:.1f} ms" for t in regex)]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
