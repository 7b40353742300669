"""Policy gradient (``policy_gradient``): one trajectory per learning seat, advantages from an estimator
(`sparring.training.advantages`: rae, mars, grpo, trr), and a PPO or REINFORCE loss over each turn's tokens,
optionally pulled toward a magnet (`sparring.training.regularisers`).

The "old" log-probs are the learner's own first-epoch forward pass, detached (same dtype, same
kernels, no extra pass), so the PPO ratio is exactly 1 on the first epoch; the sampling
log-probs recorded at generation time are kept for a drift diagnostic. A model with dropout
(``lora_dropout > 0``) learns through it, but its old log-probs, like the reference's and the
magnet's, are the policy as it samples: a no-grad pass of their own in eval mode. Under
``algo.minibatches`` a later part's first-epoch pass comes after the earlier parts' updates, so its
ratio is 1 against the policy as it stands, and the truncated importance weights (learner over
sampler) correct its gradient for the distance the earlier updates moved it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache, partial
from typing import Any

import torch

from sparring.config import PREFERENCE_LOSSES, STATE_LOSSES, VALUE_ADVANTAGES, Config, ConfigError
from sparring.errors import SparringError
from sparring.games import LanguageGame
from sparring.games.base import Turn
from sparring.games.preference import PreferenceGame
from sparring.games.templates import answer_ids
from sparring.model import eval_mode, has_dropout
from sparring.players.rollout import PlayedMatch
from sparring.training.adapters import MAGNET_ADAPTER, opponent_adapter
from sparring.training.advantages import RAEBaselines, TurnSample, estimate_advantages
from sparring.training.algorithms.base import Algorithm, Batch, Context
from sparring.training.curriculum import Curriculum, arm_rewards
from sparring.training.learner import Learner, LearnerSample, first_token, mean_stats, padded, truncated_is_weights
from sparring.training.losses import policy_loss
from sparring.training.regularisers import MOVING_MAGNETS, MovingMagnet, answer_kl, coefficient


def turn_samples(played: list[PlayedMatch], answers: Callable[[str, str], list[int]] | None = None,
                 keep: Callable[[Turn], bool] | None = None, values: Any = None
                 ) -> tuple[list[TurnSample], dict[tuple, LearnerSample]]:
    """One trajectory per learning seat (or per scored part of it, `Match.scored_turns`: a task
    game's solver attempts): the advantage view and the token view of every LM turn.

    With ``answers(answer_format, move, legal_moves) -> token ids`` each learner sample also carries the tokens
    of every legal move's answer at its turn (what the magnet KL compares). ``keep(turn)`` false
    leaves a turn out (turn phases: only the current phase's turns train). With `values` (exact action
    values, `sparring.training.exact.ExactAdvantages`, or sampled ones, `sparring.training.sampled.SampledValues`),
    each sample carries its advantage, and every
    legal answer's (``answer_advantages``).
    """
    samples, tokens = [], {}
    ids: dict[tuple[int, int, int], int] = {}  # (match index, seat, trajectory index) -> match_id of its samples
    for index, pm in enumerate(played):
        for seat in pm.spec.meta["learning_seats"]:
            for j, (scored, ret) in enumerate(pm.match.scored_turns(seat)):
                role = pm.match.trajectory_role(seat, scored)
                match_id = ids.setdefault((index, seat, j), len(ids))  # seats may share a role (spy: civilians)
                seat_values = values.seat_advantages(pm.match, seat, scored) if values else [{}] * len(scored)
                if len(seat_values) != len(scored):
                    raise SparringError(f"algo.advantage=exact: seat {seat} of a {pm.spec.game.name} match made "
                                        f"{len(seat_values)} decisions but played {len(scored)} turns")
                turns = [(t, v) for t, v in zip(scored, seat_values)
                         if "completion_ids" in t.extra and (keep is None or keep(t))]
                for k, (turn, value) in enumerate(turns):
                    last = k == len(turns) - 1
                    samples.append(TurnSample(
                        game=pm.spec.game.name, role=role, match_id=match_id, turn_index=k,
                        num_tokens=len(turn.extra["completion_ids"]), reward=ret if last else 0.0,
                        seat_return=ret, group=str(pm.spec.meta["group"]), task=pm.match.task,
                        advantage=value.get(turn.move, 0.0)))
                    legal = []
                    if answers:
                        moves = turn.extra["legal_moves"]
                        legal = [answers(pm.match.rules.answer_format, m, moves) for m in moves]
                    tokens[(match_id, role, k)] = LearnerSample(
                        turn.extra["prompt_ids"], turn.extra["completion_ids"], turn.extra["logprobs"], 0.0, legal,
                        answer_advantages=[value[m] for m in turn.extra["legal_moves"]] if value else [], role=role)
    return samples, tokens


def answer_tokens(tokenizer: Any, template: str) -> Callable[[str, str, list[str]], list[int]]:
    """`answer_ids` for this tokenizer and template, each (format, move, legal moves) tokenised once: a step of
    4096 matches asks for the same few answers thousands of times."""
    ids = cache(partial(answer_ids, tokenizer, template))
    return lambda answer_format, move, moves: ids(answer_format, move, tuple(moves))


def score_samples(algo: Any, samples: list[TurnSample], baselines: RAEBaselines, curriculum: Curriculum
                  ) -> list[TurnSample]:
    """Advantages for the turn samples; the curriculum learns from all of them, then zeros are dropped if asked.

    A regulariser (magnet KL, entropy bonus) acts on every turn, so under one nothing is dropped: a policy
    that has collapsed to a pure strategy wins and loses the same in every match (all advantages 0), and
    dropping those turns would leave nothing to pull it back toward the magnet.
    """
    options = {"rae": {"baseline": algo.rae_baseline}, "grpo": {"scale": algo.grpo_scale},
               "mars": {}, "trr": {}, "exact": {}, "sampled": {}}[algo.advantage]
    scored = estimate_advantages(algo.advantage, samples, baselines, **options)
    # Arms are seats; a game that deals roles per match (spy) keys samples by role, which maps to no
    # one seat: its arms keep their values (SEC then draws them uniformly).
    curriculum.update({arm: r for arm, r in arm_rewards(scored).items() if arm in curriculum.values})
    regularised = algo.magnet != "none" or algo.entropy_coef > 0
    return [s for s in scored if s.advantage != 0.0] if algo.drop_zero_advantage and not regularised else scored


def advantage_metrics(samples: list[TurnSample], baselines: RAEBaselines) -> dict[str, float]:
    by_role: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        by_role[f"advantage/{s.game}/{s.role}"].append(s.advantage)
    metrics = {key: sum(v) / len(v) for key, v in by_role.items()}
    metrics.update({f"baseline/{game}/{role}": b for (game, role), b in baselines.values.items()})
    return metrics


def check_magnet(cfg: Config, games: dict[str, LanguageGame]) -> None:
    open_moves = [name for name, game in games.items() if game.open_moves]
    if cfg.algo.magnet != "none" and open_moves:
        raise SparringError(f"algo.magnet compares the legal answers of each turn, but {', '.join(open_moves)} "
                            "has open-ended moves (a pattern, not a list): train it without a magnet")


class PolicyGradient(Algorithm):
    """Turn samples with advantages from `algo.advantage`, trained by `algo.loss` (ppo or reinforce)."""

    @classmethod
    def check(cls, cfg: Config, games: dict[str, LanguageGame]) -> None:
        algo = cfg.algo
        if algo.advantage in VALUE_ADVANTAGES or algo.loss in STATE_LOSSES or algo.exact_states == "all":
            raise ConfigError(f"algo.loss={algo.loss} and algo.exact_states={algo.exact_states} read action values: "
                              "that needs algo.advantage=exact or sampled (the exact or sampled algorithm)")
        if algo.loss in PREFERENCE_LOSSES:
            raise ConfigError(f"algo.loss={algo.loss} ranks the answers of one prompt: it needs the preference algorithm")
        if PreferenceGame.name in games and cfg.preference.opponent == "data":
            raise SparringError("preference.opponent=data (SPIN) prefers the data's answer to every sample: it needs a "
                                f"preference loss such as algo.loss=dpo (got {algo.loss})")
        check_magnet(cfg, games)

    def __init__(self, context: Context):
        super().__init__(context)
        cfg = context.cfg
        self.algo = cfg.algo
        self.baselines = RAEBaselines(decay=cfg.algo.rae_decay)
        model, tokenizer = context.policy.model, context.policy.tokenizer
        self.magnet = MovingMagnet(cfg.algo.magnet, model, cfg.algo.magnet_ema_decay, cfg.algo.magnet_lag) \
            if cfg.algo.magnet in MOVING_MAGNETS else None
        self.answers = answer_tokens(tokenizer, cfg.games.template) \
            if cfg.algo.reads_legal_answers or cfg.rollout.moves == "legal" else None

    def values(self) -> Any:
        """Exact action values the turn samples carry (None: the estimator computes advantages)."""
        return None

    def scored_samples(self, played: list[PlayedMatch]) -> tuple[list[TurnSample], list[TurnSample], dict]:
        """The step's turn samples, the ones kept with their advantages, and the token view of each."""
        phases = self.context.phases
        samples, tokens = turn_samples(played, self.answers, phases.keeps if phases else None, self.values())
        return samples, score_samples(self.algo, samples, self.baselines, self.context.curriculum), tokens

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        samples, scored, tokens = self.scored_samples(played)
        return Batch(self.learner_samples(scored, tokens), len(samples), self.turn_metrics(scored, tokens))

    def learner_samples(self, scored: list[TurnSample], tokens: dict) -> list[LearnerSample]:
        """The kept turns' token views, each with its advantage."""
        return [replace(tokens[(s.match_id, s.role, s.turn_index)], advantage=s.advantage) for s in scored]

    def turn_metrics(self, scored: list[TurnSample], tokens: dict) -> dict[str, float]:
        return {**advantage_metrics(scored, self.baselines),
                "response_length": sum(len(t.completion_ids) for t in tokens.values()) / max(1, len(tokens))}

    def objective(self) -> TokenObjective:
        return TokenObjective(self.algo, self.magnet.weights if self.magnet else None)

    def after_update(self, model: Any, step: int, metrics: dict[str, float]) -> None:
        if self.magnet:
            self.magnet.update(model)

    def state_dict(self) -> dict[str, Any]:
        return {"baselines": self.baselines.to_dict(), "magnet": self.magnet.state_dict() if self.magnet else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.baselines = RAEBaselines.from_dict(state["baselines"])
        if self.magnet:
            if state.get("magnet") is None:
                raise SparringError(f"algo.magnet={self.algo.magnet}: the checkpoint holds no magnet (its run had "
                                    "none); resume with the config it was written with")
            self.magnet.load_state_dict(state["magnet"])


class TokenObjective:
    """The policy loss over each sample's completion tokens (`sparring.training.losses.policy_loss`), with
    the entropy bonus and the magnet KL over each decision's legal answers."""

    def __init__(self, algo: Any, magnet_weights: Mapping[str, torch.Tensor] | None = None):
        self.algo = algo
        self.magnet_weights = magnet_weights  # a moving magnet's adapter weights (None: uniform or initial)

    def parts(self, learner: Learner, samples: list[LearnerSample]) -> list[list[list[LearnerSample]]]:
        return [learner.micro_batches(part) for part in learner.minibatches(samples)]

    def reads_answers(self) -> bool:
        """Whether the loss reads each sample's legal answers in its own pass."""
        return bool(self.magnet_coef)

    def _magnet(self, learner: Learner):
        """A context in which the model is the magnet policy (initial, or a moving magnet's weights)."""
        if self.algo.magnet == "initial":
            return learner.reference()
        if self.magnet_weights is None:
            raise ValueError(f"the {self.algo.magnet} magnet needs its weights")
        return opponent_adapter(learner.model, self.magnet_weights, slot=MAGNET_ADAPTER)

    def prepare(self, learner: Learner, micro: list[list[LearnerSample]], step: int) -> None:
        algo = self.algo
        schedule = (algo.coef_schedule, step, algo.anneal_steps, algo.anneal_power)
        self.entropy_coef = coefficient(algo.entropy_coef, *schedule)
        self.magnet_coef = coefficient(algo.magnet_coef, *schedule) if algo.magnet != "none" else 0.0
        self.ref: list[torch.Tensor] = []
        self.magnet: list[list[torch.Tensor] | None] = [None] * len(micro)  # None: the uniform magnet
        self.own_old = has_dropout(learner.model)  # else: the first epoch's own forward passes give the old log-probs
        self.old: list[torch.Tensor] = []
        self.old_normaliser: list[torch.Tensor] = []  # what was taken off `old` (renormalise), and so off the sampler's
        with torch.no_grad(), eval_mode(learner.model):
            if algo.kl_coef > 0:
                with learner.reference():
                    self.ref = [learner.forward(chunk)[0].logprobs for chunk in micro]
            if self.magnet_coef and algo.magnet != "uniform":
                with self._magnet(learner):
                    self.magnet = [learner.answer_logps(chunk) for chunk in micro]
            if self.own_old:
                for chunk in micro:
                    out, normaliser, _ = learner.policy_forward(chunk)
                    self.old.append(out.logprobs)
                    self.old_normaliser.append(normaliser)
        self.is_weights: list[torch.Tensor | None] = []  # truncated importance weights learner/sampler, per token
        self.ent_sum = self.drift_sum = self.capped_sum = 0.0

    def magnet_kl(self, learner: Learner, logps: list[torch.Tensor], magnet: list[torch.Tensor] | None) -> torch.Tensor:
        """Sum over a chunk's samples (``logps``: each one's legal answers' log-probs) of KL(policy || magnet)
        on the samples with two or more legal answers."""
        terms = [answer_kl(lp, magnet[k] if magnet is not None else None)
                 for k, lp in enumerate(logps) if lp.numel() >= 2]
        return torch.stack(terms).sum() if terms else torch.zeros((), device=learner.device)

    def loss(self, learner: Learner, index: int, chunk: list[LearnerSample], epoch: int,
             part: list[list[LearnerSample]]) -> tuple[torch.Tensor, dict[str, float]]:
        part_samples = sum(len(c) for c in part)
        part_tokens = sum(len(s.completion_ids) for c in part for s in c)
        out, normaliser, answer_logps = learner.policy_forward(
            chunk, entropy=epoch == 0 or self.entropy_coef > 0, entropy_grad=self.entropy_coef > 0,
            with_answers=self.reads_answers())
        logp, ent, mask = out.logprobs, out.entropy, out.mask
        if epoch == 0:
            if not self.own_old:
                self.old.append(logp.detach())
                self.old_normaliser.append(normaliser.detach())
            self.ent_sum += float((ent.detach() * mask).sum())
            sampled = padded([s.sampling_logprobs for s in chunk], mask.shape[1], learner.device)
            sampled = sampled - first_token(self.old_normaliser[index], mask.shape[1])
            self.drift_sum += float(((self.old[index] - sampled).abs() * mask).sum())
            weights, capped = truncated_is_weights(self.old[index], sampled, mask, self.algo.is_cap)
            self.is_weights.append(weights)
            self.capped_sum += capped
        loss, terms = self.chunk_loss(learner, index, chunk, logp, ent, mask, answer_logps, part_samples, part_tokens)
        magnet_kl = 0.0
        if self.magnet_coef:  # a mean over the part's samples, whatever the chunks and their tokens
            kl = self.magnet_kl(learner, answer_logps, self.magnet[index])
            loss = self.with_magnet(loss, kl, part_samples)
            magnet_kl = float(kl.detach()) / part_samples
        token_share = float(mask.sum()) / max(1, part_tokens)
        return loss, {**{key: value * token_share for key, value in terms.items()}, "magnet_kl": magnet_kl}

    def chunk_loss(self, learner: Learner, index: int, chunk: list[LearnerSample], logp: torch.Tensor,
                   ent: torch.Tensor, mask: torch.Tensor, answer_logps: list[torch.Tensor], part_samples: int,
                   part_tokens: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The chunk's share of its part's policy loss, and its clip fraction, KL and mean ratio."""
        algo = self.algo
        weight = (float(mask.sum()) / max(1, part_tokens) if algo.aggregation == "token_mean"
                  else len(chunk) / part_samples)
        loss, terms = policy_loss(
            logp, self.old[index], torch.tensor([s.advantage for s in chunk], device=learner.device), mask,
            kind=algo.loss, clip=algo.clip, dual_clip=algo.dual_clip,
            ref_logprobs=self.ref[index] if self.ref else None, kl_coef=algo.kl_coef,
            entropy=ent if self.entropy_coef else None, entropy_coef=self.entropy_coef,
            aggregation=algo.aggregation, constant_length=algo.constant_length,
            token_weights=self.is_weights[index],
        )
        return loss * weight, {key: terms[key] for key in ("clip_fraction", "kl", "ratio_mean")}

    def with_magnet(self, loss: torch.Tensor, kl: torch.Tensor, part_samples: int) -> torch.Tensor:
        return loss + self.magnet_coef * kl / part_samples

    def statistics(self, updates: list[dict[str, float]], parts: int, samples: list[LearnerSample]) -> dict[str, float]:
        total_tokens = sum(len(s.completion_ids) for s in samples)
        stats = mean_stats(updates)
        first_epoch = mean_stats(updates[:parts])
        stats["first_epoch_ratio_mean"] = first_epoch["ratio_mean"]
        stats["first_epoch_clip_fraction"] = first_epoch["clip_fraction"]
        # How far the epochs fit the batch (under mmd: the KL to the step's target, before and late in the fit)
        stats["first_epoch_loss"] = first_epoch["loss"]
        stats["last_epoch_loss"] = mean_stats(updates[-parts:])["loss"]
        stats["entropy"] = self.ent_sum / max(1, total_tokens)
        stats["logprob_drift"] = self.drift_sum / max(1, total_tokens)  # |learner - sampler| log-prob per token
        stats["is_capped_fraction"] = self.capped_sum / max(1, total_tokens)  # tokens whose importance weight hit is_cap
        stats["entropy_coef"], stats["magnet_coef"] = self.entropy_coef, self.magnet_coef
        return stats
