"""The critic of sneaky_critic on held-out items, ProcessBench style.

    sparring eval RUN_OR_CHECKPOINT --games sneaky_critic --items 200

Items come from the evaluation stream of the same generators (dataset seed `EVAL_SEED`, never
trained on). Half the solutions are gold; the other half carry one error planted by a fixed
planter (`Planter`: a step drawn at random, its result moved by 1 to 10 either way; later steps
carried on), so the score does not depend on any trained sneaky seat. The critic answers each once;
the rule judge labels every item. Reported: accuracy on erroneous solutions (the exact first wrong
step), on correct ones, F1 their harmonic mean, the format rate, each with a 95% Wilson interval
where it is a proportion.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparring.evaluation.stats import wilson_interval
from sparring.games.answer import format_answer
from sparring.games.base import EVALUATION_RULES, MatchRules, Observation
from sparring.games.sneaky_critic import EVAL_SEED, SneakyCriticGame, critic_metrics, planted_error
from sparring.players.base import Action, Player
from sparring.players.rollout import MatchSpec, Rollout


class Planter(Player):
    """The fixed sneaky seat of the held-out set: one off-by-a-little result in a random step."""

    name = "planter"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act_batch(self, observations: list[Observation]) -> list[Action]:
        actions = []
        return [Action(format_answer("{}: {}".format(*planted_error(obs.match.gold, self.rng)), obs.answer_format))
                for obs in observations]


def evaluate_critic(critic: Player, items: int = 200, seed: int = 0, rules: MatchRules = EVALUATION_RULES,
                    concurrency: int = 32, max_digits: int = 2) -> dict[str, Any]:
    """The critic's held-out scores (see the module doc) over `items` matches of numbers of at most `max_digits`
    digits."""
    game = SneakyCriticGame(dataset_seed=EVAL_SEED, max_digits=max_digits)
    planter = Planter(seed)
    played = Rollout(concurrency).play(lambda i: MatchSpec(game, [planter, critic], seed + i, rules), num_matches=items)
    matches = [pm.match for pm in played]
    metrics = critic_metrics(matches)
    erroneous = sum(not m.is_gold for m in matches)
    report: dict[str, Any] = {"items": items, "erroneous": erroneous, "correct": items - erroneous,
                              "max_digits": max_digits, **metrics}
    for key, trials in (("critic/acc_erroneous", erroneous), ("critic/acc_correct", items - erroneous),
                        ("critic/format_rate", items)):
        if key in metrics and trials:
            report[key + "_interval"] = wilson_interval(round(metrics[key] * trials), trials)
    report.update(chance_scores(matches))
    return report


def chance_scores(matches: list[Any]) -> dict[str, float]:
    """What a critic that picks uniformly among its legal answers (each step, or correct) scores on these matches
    in expectation: the floor a closed-answer critic's F1 is read against."""
    def mean_chance(kind: list[Any]) -> float:
        return sum(1 / (len(m.shown) + 1) for m in kind) / len(kind) if kind else 0.0

    erroneous = mean_chance([m for m in matches if not m.is_gold and m.shown is not None])
    correct = mean_chance([m for m in matches if m.is_gold])
    f1 = 2 * erroneous * correct / (erroneous + correct) if erroneous + correct else 0.0
    return {"chance/acc_erroneous": erroneous, "chance/acc_correct": correct, "chance/f1": f1}


def format_critic_report(report: dict[str, Any]) -> str:
    """The report as a few lines a person reads."""
    def rate(key: str) -> str:
        if key not in report:
            return "n/a"
        low, high = report.get(key + "_interval", (None, None))
        return f"{100 * report[key]:.1f}%" + (f" [{100 * low:.0f}-{100 * high:.0f}]" if low is not None else "")

    return "\n".join([
        f"sneaky_critic held-out critic: {report['items']} items ({report['erroneous']} with a planted error, "
        f"max_digits {report.get('max_digits', 2)})",
        f"  accuracy on erroneous {rate('critic/acc_erroneous')}, on correct {rate('critic/acc_correct')}, "
        f"F1 {100 * report.get('critic/f1', 0.0):.1f}%, format {rate('critic/format_rate')}",
        f"  a uniform guess among the legal answers: accuracy on erroneous {100 * report.get('chance/acc_erroneous', 0):.1f}%, "
        f"on correct {100 * report.get('chance/acc_correct', 0):.1f}%, F1 {100 * report.get('chance/f1', 0):.1f}%"])
