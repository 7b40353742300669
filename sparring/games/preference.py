"""The preference game: the policy answers one prompt several times, a preference judge ranks the answers.

    game = make_game("preference", cfg)     # settings from the run config's `preference` section
    match = game.new_match(seed=3)          # prompt 3: a reasoning-gym item (or a line of a JSONL file)

The only seat (role ``responder``) answers the prompt `samples` times, each answer its own turn (a reply
without an answer in the format, or with two different answers, is simply wrong, as in creator_solver). The judge
(`sparring.judges.preference`) then gives the exact preference matrix over the answers,
``P[i][j] = P(answer i > answer j)``. What trains on it:

* SPO: each answer's return is its win share against the other answers (`Match.scored_turns`), so any
  advantage estimator (grpo, rae) and policy loss (ppo, reinforce) applies;
* SPPO, DPO, IPO, INPO: the learner reads the matrix itself (`algo.loss`, `sparring.training.losses`);
* SPIN (``opponent: data``): the data's reference answer enters the group first and is preferred to
  every sample; with ``algo.loss: dpo`` that is SPIN's logistic loss against the iterate.

Prompts: reasoning-gym items (training stream ``TRAIN_SEED``, held-out stream ``EVAL_SEED``), or a JSONL
file of ``{"question", "answer"}`` objects, scored by exact match of the answer (white space ignored).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparring.errors import SparringError
from sparring.games.answer import format_answer, single_answer
from sparring.games.base import TRAINING_RULES, Match, MatchRules, Turn
from sparring.games.judged import JudgedGame, JudgedMatch, judge_record, turn_trajectories
from sparring.games.reasoning import EVAL_SEED, TRAIN_SEED, ReasoningGame, task_prompt
from sparring.judges.protocol import MatchJudge

OPPONENTS = ("self", "data")


@dataclass(frozen=True)
class Prompt:
    """One prompt: its question, the reference answer, and how an answer is scored (0..1)."""

    question: str
    reference: str
    score: Callable[[str | None], float]


def _exact(reference: str) -> Callable[[str | None], float]:
    return lambda answer: float(answer is not None and "".join(answer.split()) == "".join(reference.split()))


class PromptSource:
    """Prompts by index: reasoning-gym items of several tasks in turn, or the lines of a JSONL file."""

    def __init__(self, tasks: Sequence[str] = (), path: str | None = None, dataset_seed: int = TRAIN_SEED):
        self.tasks = [ReasoningGame(task, dataset_seed) for task in tasks] if path is None else []
        self.lines = self._read(path) if path is not None else []
        if not self.tasks and not self.lines:
            raise SparringError("the preference game needs prompts: preference.tasks or preference.prompts")

    @staticmethod
    def _read(path: str) -> list[Prompt]:
        file = Path(path)
        if not file.is_file():
            raise SparringError(f"preference.prompts: no file {path}")
        prompts = []
        for number, line in enumerate(file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                prompts.append(Prompt(str(row["question"]), str(row["answer"]), _exact(str(row["answer"]))))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise SparringError(f"{path}:{number}: each line must be a JSON object with \"question\" and "
                                    "\"answer\"") from None
        if not prompts:
            raise SparringError(f"preference.prompts: {path} holds no prompts")
        return prompts

    def prompt(self, index: int) -> Prompt:
        if self.lines:
            return self.lines[index % len(self.lines)]
        game = self.tasks[index % len(self.tasks)]
        entry = game.entry(index // len(self.tasks))
        return Prompt(entry["question"].strip(), str(entry.get("answer")), lambda answer: game.score(answer, entry))


class PreferenceGame(JudgedGame):
    name = "preference"
    description = "preference self-play: the policy answers a prompt several times, a judge ranks the answers"
    roles = ("responder",)
    is_task = True
    rules_text = "Answer the question."

    def __init__(self, tasks: Sequence[str] = ("chain_sum", "basic_arithmetic"), prompts: str | None = None,
                 samples: int = 4, opponent: str = "self", tie_break: str = "closer", judge: str = "rule"):
        if samples < 2:
            raise SparringError(f"the preference game needs at least 2 samples per prompt, got {samples}")
        if opponent not in OPPONENTS:
            raise SparringError(f"preference.opponent must be one of {OPPONENTS}, got {opponent!r}")
        self.tasks, self.prompts, self.samples = tuple(tasks), prompts, samples
        if judge != "rule" and not judge.startswith("model:"):
            raise SparringError(f'preference.judge must be "rule" or "model:NAME", got {judge!r}')
        self.opponent, self.tie_break, self.judge_name = opponent, tie_break, judge
        self.source = PromptSource(self.tasks, prompts)

    def for_run(self, options: Any = None) -> PreferenceGame:
        """A game with the run config's `preference` settings (without them, this game's)."""
        s = getattr(options, "preference", None)
        if s is None:
            return self
        return PreferenceGame(s.tasks, s.prompts, s.samples, s.opponent, s.tie_break, s.judge)

    def held_out(self) -> PromptSource:
        """Prompts the policy does not train on: reasoning-gym's evaluation stream (a JSONL file: the same lines)."""
        return PromptSource(self.tasks, self.prompts, EVAL_SEED)

    def default_judge(self) -> MatchJudge:
        from sparring.judges.preference import PairwiseModelJudge, RulePreferenceJudge  # its module loads torch

        if self.judge_name == "rule":
            return RulePreferenceJudge(self.tie_break)
        return PairwiseModelJudge(self.judge_name.removeprefix("model:"), self.tie_break)

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> PreferenceMatch:
        return PreferenceMatch(self, seed, rules, self.source.prompt(seed))

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        judged = [m.verdict.labels for m in matches if isinstance(m, PreferenceMatch) and m.verdict is not None]
        if not judged:
            return {}
        scores = [s for v in judged for s in v["scores"]]
        # Prompts whose samples the judge cannot tell apart: no preference pair, no learning signal.
        flat = [all(p == 0.5 for row in v["preference"] for p in row) for v in judged]
        metrics = {"preference/accuracy": sum(scores) / len(scores), "preference/all_tied_share": sum(flat) / len(flat)}
        strict = sum(v["agreement"][1] for v in judged if "agreement" in v)
        if strict:  # a model judge: the share of the rule's strict preferences it agrees with
            metrics["preference/judge_rule_agreement"] = sum(v["agreement"][0] for v in judged if "agreement" in v) / strict
        return metrics


class PreferenceMatch(JudgedMatch):
    game: PreferenceGame

    def __init__(self, game: PreferenceGame, seed: int, rules: MatchRules, prompt: Prompt):
        super().__init__(game, seed, rules)
        self.question, self.reference, self._score = prompt.question, prompt.reference, prompt.score
        self.opponent = game.opponent

    def _engine_seat(self) -> int | None:
        return None if self.verdict is not None else 0

    def parse(self, text: str) -> str:
        """The reply's answer; a reply without one, or whose answer marks differ (a hedge), answers "" (wrong)."""
        answer = single_answer(text, self.rules.answer_format, fold=False)
        return "" if answer is None else answer.strip()

    def _engine_apply(self, move: str) -> None:
        if len(self.turns) == self.game.samples:
            self.verdict = self.game.judge.verdict(self)

    def answers(self) -> list[str]:
        return [t.move for t in self.turns]

    def replies(self) -> list[str]:
        return [t.text for t in self.turns]

    def scores(self) -> list[float]:
        return [self._score(answer or None) for answer in self.answers()]

    def data_reply(self) -> str:
        """The data's answer written as a reply (SPIN's preferred answer)."""
        return format_answer(self.reference, self.rules.answer_format)

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """Each answer is its own trajectory; its return is its win share in the group (SPO)."""
        if self.verdict is None:
            return super().scored_turns(seat)
        return turn_trajectories(self, 0, self.verdict.labels["win_shares"])

    def observation_text(self, seat: int) -> str:
        return self.question

    def prompt(self, seat: int) -> str:
        return task_prompt(self.question, self.rules.answer_format, bool(self._failed_attempts))

    def record(self) -> dict[str, Any]:
        return {**super().record(), "reference_answer": self.reference, "judge": judge_record(self, self.verdict)}
