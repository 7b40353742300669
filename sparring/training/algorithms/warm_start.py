"""A warm start (``warm_start.steps``): the run's first steps train on labelled turns, then its paradigm takes over.

SPC trains its critic on labelled steps before its self-play; R-Zero and SPELL warm their solvers. The games
that sparring writes know the right answer of some roles' turns (`LanguageGame.labelled_roles`: the critic's
first wrong step, the verifier's yes or no), so a warm-start step draws ``warm_start.items`` such turns from the
training items (the named stream ``labelled``, so a resumed run draws the same ones) and trains the policy to
give the right answer: the cross-entropy over the legal answers under legal-move play (the learner
renormalises), the answer's token log-likelihood otherwise. The step's matches are played and logged as ever,
so the in-game metrics show what the supervision taught; they train nothing until the warm start ends.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from sparring.config import Config
from sparring.errors import SparringError
from sparring.games import LanguageGame
from sparring.players.lm import encode_prompts
from sparring.players.rollout import PlayedMatch
from sparring.seeding import stream_seed
from sparring.training.algorithms.base import Algorithm, Batch, Context
from sparring.training.algorithms.policy_gradient import answer_tokens
from sparring.training.learner import Learner, LearnerSample, mean_stats
from sparring.training.selfplay import match_rules


class WarmStart(Algorithm):
    """`inner` (the run's paradigm), after ``warm_start.steps`` steps of supervised learning on labelled turns."""

    @classmethod
    def check(cls, cfg: Config, games: dict[str, LanguageGame]) -> None:
        if cfg.warm_start.steps and not any(game.labelled_roles for game in games.values()):
            raise SparringError(f"warm_start.steps needs a game with labelled turns (sneaky_critic), got {', '.join(games)}")

    @classmethod
    def around(cls, inner: Algorithm, context: Context) -> Algorithm:
        """`inner` with a warm start before it, or `inner` itself when ``warm_start.steps`` is 0."""
        return cls(context, inner) if context.cfg.warm_start.steps else inner

    def __init__(self, context: Context, inner: Algorithm):
        super().__init__(context)
        self.inner = inner
        self.settings = context.cfg.warm_start
        self.labelled = [game for game in context.games.values() if game.labelled_roles]
        self.answers = answer_tokens(context.policy.tokenizer, context.cfg.games.template)
        self.rules = match_rules(context.cfg)
        self.warming = True

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        self.warming = step <= self.settings.steps
        if not self.warming:
            return self.inner.samples(played, step)
        started = time.perf_counter()
        samples = self.labelled_samples(step)
        return Batch(samples, len(samples), {"warm_start/active": 1.0},
                     {"labelled_turns": time.perf_counter() - started})

    def labelled_samples(self, step: int) -> list[LearnerSample]:
        """The step's labelled turns (the games with labelled turns take turns), each a learner sample whose
        completion is the right answer's tokens; the prompts are tokenised in one call."""
        seed = self.context.cfg.trainer.seed
        turns = [self.labelled[k % len(self.labelled)].labelled_turn(stream_seed(seed, "labelled", step, k), self.rules)
                 for k in range(self.settings.items)]
        policy = self.context.policy
        prompt_ids = encode_prompts(policy.tokenizer, [policy.render(observation) for observation, _ in turns])
        samples = []
        for ids, (obs, label) in zip(prompt_ids, turns):
            legal = [self.answers(self.rules.answer_format, move, obs.legal_moves) for move in obs.legal_moves]
            right = self.answers(self.rules.answer_format, label, obs.legal_moves)
            samples.append(LearnerSample(ids, right, [0.0] * len(right), 1.0, legal, role=obs.match.role(obs.seat)))
        return samples

    def objective(self) -> Any:
        return SupervisedObjective() if self.warming else self.inner.objective()

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        if not self.warming:
            self.inner.after_update(model, step, metrics)

    def metrics(self) -> dict[str, float]:
        return {} if self.warming else self.inner.metrics()

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()  # the warm start's own draws follow from the step: nothing to keep

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


class SupervisedObjective:
    """The mean negative log-likelihood of each sample's completion (the right answer) under the played policy:
    over its legal answers when the learner renormalises, over its tokens otherwise."""

    def parts(self, learner: Learner, samples: list[LearnerSample]) -> list[list[list[LearnerSample]]]:
        return [learner.micro_batches(samples)]

    def prepare(self, learner: Learner, micro: list[list[LearnerSample]], step: int) -> None:
        self.right = self.seen = 0

    def loss(self, learner: Learner, index: int, chunk: list[LearnerSample], epoch: int,
             part: list[list[LearnerSample]]) -> tuple[torch.Tensor, dict[str, float]]:
        out, _, answer_logps = learner.policy_forward(chunk, with_answers=True)
        loss = -(out.logprobs * out.mask).sum() / sum(len(c) for c in part)
        if epoch == 0:  # before this step's updates: the share of closed-answer turns the policy already ranks right
            for sample, logps in zip(chunk, answer_logps):
                if logps.numel():
                    self.seen += 1
                    self.right += sample.legal_answers[int(logps.argmax())] == sample.completion_ids
        return loss, {}

    def statistics(self, updates: list[dict[str, float]], parts: int, samples: list[LearnerSample]) -> dict[str, float]:
        stats = {**mean_stats(updates), "warm_start/first_epoch_loss": updates[0]["loss"],
                 "warm_start/last_epoch_loss": updates[-1]["loss"]}
        if self.seen:
            stats["warm_start/accuracy"] = self.right / self.seen
        return stats
