"""Exact action values (``exact``): each decision's ``Q(s, a) - V(s)`` read off the game tree under the policy
that played (`sparring.training.exact`), trained by the token loss (ppo, reinforce), or over every legal answer
of each decision: ``all_actions`` (the policy gradient summed over every move) or ``mmd`` (a step toward the
magnetic mirror descent target); with ``exact_states: all``, at every information state once (full width).
"""

from __future__ import annotations

import time

import torch

from sparring.config import STATE_LOSSES, Config, ConfigError
from sparring.games import LanguageGame
from sparring.players.rollout import PlayedMatch
from sparring.training.algorithms.base import Batch
from sparring.training.algorithms.policy_gradient import PolicyGradient, TokenObjective
from sparring.training.exact import ExactAdvantages
from sparring.training.learner import Learner, LearnerSample
from sparring.training.losses import all_actions_loss, mmd_loss
from sparring.training.selfplay import match_rules


class Exact(PolicyGradient):
    """Policy gradient on exact advantages: the step's value tables are built before the learner moves."""

    @classmethod
    def check(cls, cfg: Config, games: dict[str, LanguageGame]) -> None:
        algo = cfg.algo
        if algo.exact_states == "all" and algo.loss not in STATE_LOSSES:
            raise ConfigError("algo.exact_states=all trains on every information state's legal answers: it needs "
                              "algo.advantage=exact or sampled and algo.loss=all_actions or mmd")
        if algo.loss == "mmd" and (algo.exact_states != "all" or algo.magnet != "uniform" or algo.mmd_step <= 0):
            raise ConfigError("algo.loss=mmd steps from the policy at every information state toward a uniform magnet: "
                              "it needs algo.exact_states=all, algo.magnet=uniform and algo.mmd_step > 0")
        if algo.loss == "all_actions" and (algo.kl_coef or algo.entropy_coef):
            raise ConfigError("algo.loss=all_actions weighs every legal move by its advantage: it needs "
                              "algo.advantage=exact or sampled, and takes no kl_coef or entropy_coef (regularise with algo.magnet)")
        if (cfg.rollout.moves != "legal" or cfg.rollout.opponent != "self" or cfg.pool.rule != "latest"
                or cfg.ray.mode == "async"):
            raise ConfigError(f"algo.advantage={algo.advantage} values every seat playing the current policy on its legal moves: "
                              "it needs rollout.moves=legal, rollout.opponent=self, pool.rule=latest and ray.mode=sync")

    table: ExactAdvantages | None = None

    def values(self) -> ExactAdvantages | None:
        return self.table

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        started = time.perf_counter()
        cfg = self.context.cfg
        full_width = cfg.algo.exact_states == "all"
        self.table = ExactAdvantages(self.context.policy, list(self.context.games), match_rules(cfg), keep=full_width,
                                     keep_contexts=full_width and not cfg.algo.prompt_gradient)
        seconds = time.perf_counter() - started
        batch = super().samples(played, step)
        if cfg.algo.exact_states == "all":  # full width: every information state, not the played ones
            batch.samples = self.table.state_samples()
            if not cfg.algo.prompt_gradient:  # the scoring pass's keys and values: the learner's context
                batch.context = self.table.take_context([s.prompt_ids for s in batch.samples])
        batch.seconds["action_values"] = seconds
        return batch

    def objective(self) -> TokenObjective:
        if self.algo.loss in STATE_LOSSES:
            return StateObjective(self.algo)
        return super().objective()

    def metrics(self) -> dict[str, float]:
        return self.table.metrics() if self.table else {}


class StateObjective(TokenObjective):
    """``all_actions`` or ``mmd`` over each sample's legal answers, a mean over the part's decisions."""

    def reads_answers(self) -> bool:
        return True

    def chunk_loss(self, learner: Learner, index: int, chunk: list[LearnerSample], logp: torch.Tensor,
                   ent: torch.Tensor, mask: torch.Tensor, answer_logps: list[torch.Tensor], part_samples: int,
                   part_tokens: int) -> tuple[torch.Tensor, dict[str, float]]:
        advantages = [s.answer_advantages for s in chunk]
        if self.algo.loss == "mmd":
            loss = mmd_loss(answer_logps, [s.answer_probs for s in chunk], advantages, self.algo.mmd_step,
                            self.magnet_coef)
        else:
            loss = all_actions_loss(answer_logps, advantages)
        return loss / part_samples, {"clip_fraction": 0.0, "kl": 0.0, "ratio_mean": 1.0}

    def with_magnet(self, loss: torch.Tensor, kl: torch.Tensor, part_samples: int) -> torch.Tensor:
        return loss if self.algo.loss == "mmd" else super().with_magnet(loss, kl, part_samples)  # mmd's target holds it
