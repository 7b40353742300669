"""How often each seat was dealt each card or die face, read from a run's transcripts.

    python scripts/deal_counts.py runs/multi_game

An audit of the training data: in every game with chance, each seat's private card (Kuhn Poker,
Leduc) or die (Liar's Dice) should come up about equally often. The private information is read
from the first prompt each seat saw, as the model saw it.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

PRIVATE = re.compile(r"Your (?:card|dice): (\w+)")


def count(run_dir: Path) -> dict[tuple[str, str], Counter]:
    """(game, role) -> Counter of private cards/faces over every transcript of the run."""
    counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for path in sorted((run_dir / "transcripts").glob("*.jsonl")):
        for line in path.open():
            match = json.loads(line)
            seen: set[int] = set()
            for turn in match["turns"]:
                found = PRIVATE.search(turn["prompt"])
                if found and turn["seat"] not in seen:
                    seen.add(turn["seat"])
                    counts[(match["game"], turn["role"])][found.group(1)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    run_dir = parser.parse_args().run_dir
    if not (run_dir / "transcripts").is_dir():
        raise SystemExit(f"deal_counts: no transcripts in {run_dir} (set trainer.transcripts_every)")
    for (game, role), counter in sorted(count(run_dir).items()):
        total = sum(counter.values())
        shares = ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sorted(counter.items()))
        print(f"{game} {role}: {shares}  [{total} matches]")


if __name__ == "__main__":
    main()
