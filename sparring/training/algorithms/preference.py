"""Preference losses (``preference``: sppo, dpo, ipo, inpo): every answer of a preference match ranked within its
prompt's group by the judge's preference matrix (`sparring.training.preference`), each answer's log-ratio against
the iterate ``pi_t`` (`sparring.training.adapters.Iterate`) trained toward its loss (`sparring.training.losses`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from sparring.config import Config, ConfigError
from sparring.errors import SparringError
from sparring.games import LanguageGame
from sparring.games.preference import PreferenceGame
from sparring.model import eval_mode
from sparring.players.rollout import PlayedMatch
from sparring.training.adapters import ITERATE_ADAPTER, Iterate, opponent_adapter
from sparring.training.algorithms.base import Batch, Context
from sparring.training.algorithms.policy_gradient import PolicyGradient, check_magnet
from sparring.training.learner import Learner, LearnerSample, mean_stats
from sparring.training.losses import preference_loss, preference_terms
from sparring.training.preference import preference_samples


class Preference(PolicyGradient):
    """The step's turn samples still feed the baselines and the curriculum; the learner trains on the groups."""

    @classmethod
    def check(cls, cfg: Config, games: dict[str, LanguageGame]) -> None:
        algo = cfg.algo
        if not cfg.model.lora:
            raise ConfigError(f"algo.loss={algo.loss} compares the policy with its iterate, an adapter state: it "
                              "needs model.lora=true")
        if algo.minibatches != 1:
            raise ConfigError(f"algo.minibatches must be 1 with a preference loss (got {algo.minibatches} with "
                              f"loss={algo.loss})")
        if algo.beta <= 0 or algo.iterate_every < 0 or not 0 <= algo.inpo_tau <= algo.beta:
            raise ConfigError(f"algo needs beta > 0, iterate_every >= 0 and 0 <= inpo_tau <= beta (got beta={algo.beta}, "
                              f"iterate_every={algo.iterate_every}, inpo_tau={algo.inpo_tau})")
        if any(name != PreferenceGame.name for name in games):
            raise SparringError(f"algo.loss={algo.loss} ranks the answers of one prompt: train it on games.names "
                                f"[{PreferenceGame.name}] alone (got {', '.join(games)})")
        check_magnet(cfg, games)

    def __init__(self, context: Context):
        super().__init__(context)
        self.iterate = Iterate(context.policy.model, self.algo.iterate_every)

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        batch = super().samples(played, step)
        batch.samples = preference_samples(played, self.context.policy.tokenizer, self.context.cfg.games.template)
        return batch

    def objective(self) -> PreferenceObjective:
        return PreferenceObjective(self.algo, self.iterate.weights)

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        super().after_update(model, step, metrics)
        self.iterate.update(model, step)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "iterate": self.iterate.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.iterate.load_state_dict(state["iterate"])


class PreferenceObjective:
    """`algo.loss` over prompt groups of ranked answers, each answer's log-ratio against the iterate."""

    def __init__(self, algo: Any, iterate_weights: Mapping[str, torch.Tensor] | None = None):
        self.algo = algo
        self.iterate_weights = iterate_weights  # pi_t (None: the initial model)

    def _iterate(self, learner: Learner):
        """A context in which the model is the iterate pi_t (the initial model until the first refresh)."""
        if self.iterate_weights is None:
            return learner.reference()
        return opponent_adapter(learner.model, self.iterate_weights, slot=ITERATE_ADAPTER)

    def parts(self, learner: Learner, samples: list[LearnerSample]) -> list[list[list[LearnerSample]]]:
        """One part: micro-batches of whole prompt groups (a pair loss needs both answers in one graph)."""
        groups: dict[int, list[LearnerSample]] = {}
        for s in samples:
            groups.setdefault(s.group, []).append(s)
        for members in groups.values():
            if any(len(s.preference) != len(members) for s in members):
                raise ValueError("a preference sample's row must have one entry per answer of its group")
        self.micro = learner.cut(list(groups.values()))
        return [[[s for group in chunk for s in group] for chunk in self.micro]]

    def prepare(self, learner: Learner, micro: list[list[LearnerSample]], step: int) -> None:
        with torch.no_grad(), eval_mode(learner.model):
            with self._iterate(learner):
                self.iterate = [learner.sequence_logps(chunk) for chunk in micro]
            self.reference = None
            if self.algo.loss == "inpo" and self.algo.inpo_tau:
                with learner.reference():
                    self.reference = [learner.sequence_logps(chunk) - it for chunk, it in zip(micro, self.iterate)]
        self.matrices = [[torch.tensor([s.preference for s in group], device=learner.device) for group in chunk]
                         for chunk in self.micro]
        self.terms = sum(preference_terms(self.algo.loss, m) for chunk in self.matrices for m in chunk)

    def loss(self, learner: Learner, index: int, chunk: list[LearnerSample], epoch: int,
             part: list[list[LearnerSample]]) -> tuple[torch.Tensor, dict[str, float]]:
        algo = self.algo
        logratio = learner.sequence_logps(chunk) - self.iterate[index]
        loss, start = torch.zeros((), device=learner.device), 0
        for group, matrix in zip(self.micro[index], self.matrices[index]):
            end = start + len(group)
            term = preference_loss(algo.loss, logratio[start:end], matrix, beta=algo.beta, tau=algo.inpo_tau,
                                   ref_logratio=None if self.reference is None else self.reference[index][start:end])
            loss, start = loss + term, end
        loss = loss / max(1, self.terms)  # a mean over the batch's answers (sppo) or pairs
        return loss, {"logratio_sum": float(logratio.detach().sum())}

    def statistics(self, updates: list[dict[str, float]], parts: int, samples: list[LearnerSample]) -> dict[str, float]:
        for update in updates:
            update["logratio_mean"] = update.pop("logratio_sum") / max(1, len(samples))
        return {**mean_stats(updates), "preference_terms": float(self.terms)}
