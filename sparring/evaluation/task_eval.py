"""Task games evaluated on a fixed held-out task set: the solver's accuracy per task type.

    rows = evaluate_tasks("lm:runs/propose_solve/checkpoints/step_000006/model")

The set (`sparring/games/data/tasks_heldout.jsonl`, written once by
`scripts/make_heldout_tasks.py` from a seed) holds tasks of every type. Each task is one match
that starts at the solver (`TaskGame.solve_match`), graded by the sandboxed judge like in
training. Rows: game, player, task_type, tasks, accuracy with its 95% Wilson interval.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sparring.evaluation.stats import wilson_interval
from sparring.games import make_game
from sparring.games.base import EVALUATION_RULES, MatchRules
from sparring.games.task_games import Task, TaskGame
from sparring.players.base import Player
from sparring.players.rollout import MatchSpec, Rollout

HELDOUT = Path(__file__).parents[1] / "games" / "data" / "tasks_heldout.jsonl"


def heldout_tasks(path: Path = HELDOUT) -> list[tuple[str, Task]]:
    """(task type, task) for every line of the held-out set."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [(row["type"], Task.from_dict(row)) for row in rows]


def evaluate_tasks(player: str | Player, game: str = "propose_solve", seed: int = 0, *,
                   rules: MatchRules = EVALUATION_RULES, concurrency: int = 32,
                   lm_options: dict[str, Any] | None = None, path: Path = HELDOUT,
                   options: Any = None) -> list[dict[str, Any]]:
    """Solver accuracy of `player` per task type (plus "all") on the held-out tasks."""
    from sparring.players import make_player

    task_game = make_game(game, options)
    if not isinstance(task_game, TaskGame):
        raise ValueError(f"{game} is not a task game")
    solver = make_player(player, seed=seed, **(lm_options or {})) if isinstance(player, str) else player
    tasks = heldout_tasks(path)

    class HeldOut(TaskGame):  # matches of the rollout start at the solver, on the next held-out task
        def new_match(self, match_seed: int, match_rules: MatchRules = rules):
            task_type, task = tasks[match_seed - seed]
            return task_game.solve_match(task, task_type, match_seed, match_rules)

    held = HeldOut(task_game.settings, judge=task_game.judge)
    played = Rollout(concurrency).play(lambda i: MatchSpec(held, [solver, solver], seed + i, rules),
                                       num_matches=len(tasks))
    right: dict[str, list[bool]] = defaultdict(list)
    for pm in played:
        right[pm.match.task].append(pm.match.accuracy() == 1.0)
        right["all"].append(pm.match.accuracy() == 1.0)
    rows = []
    for task_type in sorted(right, key=lambda t: (t == "all", t)):
        hits = right[task_type]
        low, high = wilson_interval(sum(hits), len(hits))
        rows.append({"game": game, "player": getattr(solver, "name", str(player)), "task_type": task_type,
                     "tasks": len(hits), "accuracy": sum(hits) / len(hits), "accuracy_low": low, "accuracy_high": high})
    return rows


def print_task_eval(rows: list[dict[str, Any]], console: Any = None) -> None:
    lines = [f"{'game':<14} {'task type':<10} {'tasks':>5}  accuracy [95% Wilson]"]
    lines += [f"{r['game']:<14} {r['task_type']:<10} {r['tasks']:>5}  {100 * r['accuracy']:5.1f}% "
              f"[{100 * r['accuracy_low']:.0f}-{100 * r['accuracy_high']:.0f}]" for r in rows]
    (console.print if console is not None else print)("\n".join(lines))
