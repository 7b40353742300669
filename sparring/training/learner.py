"""The learner: one optimiser step (or `ppo_epochs` of them, times `minibatches`) over a batch of turn samples.

The "old" log-probs are the learner's own first-epoch forward pass, detached (same dtype, same
kernels, no extra pass), so the PPO ratio is exactly 1 on the first epoch; the sampling
log-probs recorded at generation time are kept for a drift diagnostic. A model with dropout
(``lora_dropout > 0``) learns through it, but its old log-probs, like the reference's and the
magnet's, are the policy as it samples: a no-grad pass of their own in eval mode. Under
``algo.minibatches`` a later part's first-epoch pass comes after the earlier parts' updates, so its
ratio is 1 against the policy as it stands, and the truncated importance weights (learner over
sampler) correct its gradient for the distance the earlier updates moved it.

Regularisers (`sparring.training.regularisers`): an entropy bonus per token, and the magnet KL
over each sample's legal answers, the magnet's answer log-probs computed once per step.

Under legal-move play (``legal_moves``: the rollout drew each move from the renormalised
probabilities of the legal answers, pi(a) = p(a) / Z) the policy term differentiates that played
policy: the normaliser ``log Z = log sum_b p(b)``, from the same pass's legal-answer rows, is taken
off the answer's first token, and off the old and the sampling log-probs alike, so the PPO ratio,
the drift and the importance weights compare like with like. The raw token log-prob would add
(A - 0) * grad log Z to each sample's gradient, which in expectation is (V(s) - b) grad log Z(s):
with a baseline that is not the state's value (GRPO, RAE) that moves the legal policy itself, and
the regularised equilibrium would not be a fixed point of the update.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from sparring.config import PREFERENCE_LOSSES
from sparring.logprobs import CompletionLogprobs, PassSize, answer_logprobs, answer_totals, completion_logprobs, split_rows
from sparring.model import eval_mode, has_dropout
from sparring.training.losses import all_actions_loss, mmd_loss, policy_loss, preference_loss, preference_terms
from sparring.training.metrics import Stopwatch
from sparring.training.adapters import opponent_adapter
from sparring.training.regularisers import answer_kl, coefficient

MAGNET_ADAPTER = "magnet"  # the peft adapter slot a moving magnet's weights are loaded into
ITERATE_ADAPTER = "iterate"  # the slot the preference losses' iterate pi_t is scored in


@dataclass
class LearnerSample:
    """What the learner needs of one LM turn."""

    prompt_ids: list[int]
    completion_ids: list[int]
    sampling_logprobs: list[float]
    advantage: float
    legal_answers: list[list[int]] = field(default_factory=list)  # each legal move's answer tokens (magnet KL)
    group: int = -1  # preference losses: the prompt whose answers this one is ranked with
    preference: tuple[float, ...] = ()  # its row of the group's preference matrix, P(this > answer j)
    answer_advantages: list[float] = field(default_factory=list)  # algo.advantage=exact: each legal answer's Q - V
    answer_probs: list[float] = field(default_factory=list)  # algo.exact_states=all: each legal answer's probability as played


def truncated_is_weights(learner: torch.Tensor, sampler: torch.Tensor, mask: torch.Tensor, cap: float
                         ) -> tuple[torch.Tensor | None, float]:
    """Per-token min(pi_learner / pi_sampler, cap), detached, and how many real tokens hit the cap.

    The sampler (another engine, other kernels, or the policy of the step before) is not exactly the
    policy the learner differentiates; the weight corrects the gradient toward the learner's policy,
    truncated so one token cannot dominate. ``cap <= 0``: no correction (None).
    """
    if cap <= 0:
        return None, 0.0
    ratio = torch.exp(learner.detach() - sampler)
    return ratio.clamp(max=cap), float(((ratio > cap).float() * mask).sum())


def padded(rows: list[list[float]], width: int, device=None) -> torch.Tensor:
    return torch.tensor([row + [0.0] * (width - len(row)) for row in rows], device=device)


def _numbered(parts: list[list[list[LearnerSample]]]) -> list[tuple[int, list[list[LearnerSample]]]]:
    """Each part with the index its first micro-batch has in the step's flat list of micro-batches."""
    firsts = itertools.accumulate((len(part) for part in parts[:-1]), initial=0)
    return list(zip(firsts, parts))


def _mean_stats(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}


def first_token(values: torch.Tensor, width: int) -> torch.Tensor:
    """``[B]`` values placed in column 0 of a ``[B, width]`` zero tensor."""
    return torch.nn.functional.pad(values[:, None], (0, width - 1))


class Learner:
    """Owns the optimiser; `step` turns a batch of samples into (at most) `ppo_epochs * minibatches` updates."""

    def __init__(self, model, algo, trainer, temperature: float, autocast_bf16: bool, legal_moves: bool = False):
        self.model = model
        self.algo = algo
        self.renormalise = legal_moves  # the played policy is the legal answers' renormalised probabilities
        self.reads_answers = legal_moves or algo.reads_legal_answers
        self.trainer = trainer
        self.temperature = temperature
        self.autocast = autocast_bf16
        self.device = next(model.parameters()).device
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=trainer.lr, weight_decay=trainer.weight_decay,
                                           betas=(trainer.adam_beta1, 0.999), fused=True)
        self.updates = 0  # optimiser updates applied, for the warmup
        self.skipped_updates = 0
        self.magnet_weights: Mapping[str, torch.Tensor] | None = None  # set by the trainer for ema/lagged magnets
        self.iterate_weights: Mapping[str, torch.Tensor] | None = None  # pi_t of the preference losses (None: initial)
        self.watch = Stopwatch()  # seconds in forward passes, backward passes and optimiser updates

    def _compute(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def _reference(self):
        """The reference policy: under LoRA the base model with adapters disabled."""
        disable = getattr(self.model, "disable_adapter", None)
        if disable is None:
            raise ValueError("a KL penalty needs LoRA (the reference is the base with adapters off)")
        return disable()

    def learning_rate(self, step: int) -> float:
        """The learning rate of the next update at learner step ``step``: ``lr`` under ``lr_schedule``,
        times the linear warmup over the first ``warmup_steps`` updates."""
        t = self.trainer
        scheduled = coefficient(t.lr, t.lr_schedule, step, t.steps, t.lr_anneal_power)
        return scheduled * min(1.0, (self.updates + 1) / max(1, t.warmup_steps))

    def _minibatches(self, samples: list[LearnerSample]) -> list[list[LearnerSample]]:
        """`algo.minibatches` parts of the step's samples, one optimiser update each. The samples of one prompt
        stay together (the shared-prefix tree runs it once), and the distinct prompts, in sorted order, are dealt
        out in turn, so every part holds a spread of the step's states."""
        count = self.algo.minibatches
        if count == 1:
            return [samples]
        by_prompt: dict[tuple[int, ...], list[LearnerSample]] = {}
        for s in samples:
            by_prompt.setdefault(tuple(s.prompt_ids), []).append(s)
        parts: list[list[LearnerSample]] = [[] for _ in range(count)]
        for k, prompt in enumerate(sorted(by_prompt)):
            parts[k % count].extend(by_prompt[prompt])
        return [part for part in parts if part]

    def _micro_batches(self, samples: list[LearnerSample]) -> list[list[LearnerSample]]:
        """Micro-batches in prompt order, so that samples sharing a prefix travel together (`_cut`)."""
        ordered = sorted(samples, key=lambda s: s.prompt_ids) if self.algo.shared_prefix else samples
        return [[s for unit in chunk for s in unit] for chunk in self._cut([[s] for s in ordered])]

    def _cut(self, units: list[list[LearnerSample]]) -> list[list[list[LearnerSample]]]:
        """Consecutive units (a sample, or a preference group whose answers must share a graph) into
        micro-batches of at most `trainer.micro_batch` samples whose forward pass holds at most
        `trainer.micro_batch_tokens` tokens (`PassSize`, the magnet's legal-answer rows included); a unit
        over either limit goes alone."""
        budget = self.trainer.micro_batch_tokens
        chunks: list[list[list[LearnerSample]]] = []
        current: list[list[LearnerSample]] = []
        count, size = 0, PassSize(self.algo.shared_prefix)
        for unit in units:
            self._add_rows(size, unit)
            if current and (count + len(unit) > self.trainer.micro_batch or (budget and size.tokens > budget)):
                chunks.append(current)
                current, count, size = [], 0, PassSize(self.algo.shared_prefix)
                self._add_rows(size, unit)
            current.append(unit)
            count += len(unit)
        return chunks + ([current] if current else [])

    def _add_rows(self, size: PassSize, unit: list[LearnerSample]) -> None:
        """The rows `_forward` runs for these samples: each completion, and each legal answer it reads."""
        for s in unit:
            size.add(s.prompt_ids, s.completion_ids)
            for answer in s.legal_answers if self.reads_answers else []:
                size.add(s.prompt_ids, answer)

    def _forward(self, chunk: list[LearnerSample], entropy: bool = False, entropy_grad: bool = False,
                 with_answers: bool = False) -> tuple[CompletionLogprobs, list[torch.Tensor]]:
        """The chunk's completion log-probs and, ``with_answers``, each sample's legal answers' summed
        log-probs (the magnet KL's input) from the same pass: the answers are extra rows on the same
        prompts, so the shared-prefix tree runs each prompt once for both."""
        prompts = [s.prompt_ids for s in chunk]
        completions = [s.completion_ids for s in chunk]
        counts = [len(s.legal_answers) if with_answers else 0 for s in chunk]
        for s, count in zip(chunk, counts):
            prompts += [s.prompt_ids] * count
            completions += s.legal_answers[:count]
        with self.watch("forward"), self._compute():
            scored = completion_logprobs(self.model, prompts, completions, self.temperature, entropy, entropy_grad,
                                         share_prefix=self.algo.shared_prefix)
        own, answers = split_rows(scored, len(chunk))
        return own, answer_totals(answers, counts) if with_answers else []

    def _policy_forward(self, chunk: list[LearnerSample], entropy: bool = False, entropy_grad: bool = False,
                        with_answers: bool = False) -> tuple[CompletionLogprobs, torch.Tensor, list[torch.Tensor]]:
        """`_forward`, its log-probs those of the policy term, and the normaliser ``[B]`` taken off them:
        under legal-move play each sample's ``log sum_b p(b)`` over its legal answers (0 without any),
        on its first token; else 0."""
        renormalise = self.renormalise
        out, answer_logps = self._forward(chunk, entropy, entropy_grad, with_answers or renormalise)
        if not renormalise:
            return out, torch.zeros(len(chunk), device=self.device), answer_logps
        normaliser = torch.stack([lp.logsumexp(0) if lp.numel() else lp.new_zeros(()) for lp in answer_logps])
        out = CompletionLogprobs(out.logprobs - first_token(normaliser, out.logprobs.shape[1]), out.mask, out.entropy)
        return out, normaliser, answer_logps

    def _answer_logps(self, chunk: list[LearnerSample]) -> list[torch.Tensor]:
        """Each sample's legal answers' summed log-probs under the active weights."""
        with self.watch("forward"), self._compute():
            return answer_logprobs(self.model, [s.prompt_ids for s in chunk], [s.legal_answers for s in chunk],
                                   self.temperature, share_prefix=self.algo.shared_prefix)

    def _magnet(self):
        """A context in which the model is the magnet policy (initial, or a moving magnet's weights)."""
        if self.algo.magnet == "initial":
            return self._reference()
        if self.magnet_weights is None:
            raise ValueError(f"the {self.algo.magnet} magnet needs Learner.magnet_weights")
        return opponent_adapter(self.model, self.magnet_weights, slot=MAGNET_ADAPTER)

    def _magnet_kl(self, logps: list[torch.Tensor], magnet: list[torch.Tensor] | None) -> torch.Tensor:
        """Sum over a chunk's samples (``logps``: each one's legal answers' log-probs) of KL(policy || magnet)
        on the samples with two or more legal answers."""
        terms = [answer_kl(lp, magnet[k] if magnet is not None else None)
                 for k, lp in enumerate(logps) if lp.numel() >= 2]
        return torch.stack(terms).sum() if terms else torch.zeros((), device=self.device)

    def step(self, samples: list[LearnerSample], step: int = 1) -> dict[str, float]:
        """Run the PPO epochs over `samples` (learner step `step`, for coefficient schedules); return statistics."""
        if self.algo.loss in PREFERENCE_LOSSES:
            return self.preference_step(samples, step)
        started = time.perf_counter()
        self.watch = Stopwatch()
        algo = self.algo
        schedule = (algo.coef_schedule, step, algo.anneal_steps, algo.anneal_power)
        entropy_coef = coefficient(algo.entropy_coef, *schedule)
        magnet_coef = coefficient(algo.magnet_coef, *schedule) if algo.magnet != "none" else 0.0
        total_tokens = sum(len(s.completion_ids) for s in samples)
        parts = [self._micro_batches(part) for part in self._minibatches(samples)]
        micro = [chunk for part in parts for chunk in part]
        ref = []
        magnet: list[list[torch.Tensor] | None] = [None] * len(micro)  # None: the uniform magnet
        own_old = has_dropout(self.model)  # else: the first epoch's own forward passes give the old log-probs
        old: list[torch.Tensor] = []
        old_normaliser: list[torch.Tensor] = []  # what was taken off `old` (renormalise), and so off the sampler's
        with torch.no_grad(), eval_mode(self.model):
            if self.algo.kl_coef > 0:
                with self._reference():
                    ref = [self._forward(chunk)[0].logprobs for chunk in micro]
            if magnet_coef and algo.magnet != "uniform":
                with self._magnet():
                    magnet = [self._answer_logps(chunk) for chunk in micro]
            if own_old:
                for chunk in micro:
                    out, normaliser, _ = self._policy_forward(chunk)
                    old.append(out.logprobs)
                    old_normaliser.append(normaliser)
        state_loss = algo.loss in ("all_actions", "mmd")  # a loss over each decision's legal answers, not its own
        is_weights: list[torch.Tensor | None] = []  # truncated importance weights learner/sampler, per token
        ent_sum = drift_sum = capped_sum = 0.0
        update_stats: list[dict[str, float]] = []  # one per optimiser update: epoch by epoch, part by part
        for epoch, (first, part) in itertools.product(range(self.algo.ppo_epochs), _numbered(parts)):
            self.optimizer.zero_grad(set_to_none=True)
            loss_total, agg = 0.0, {"clip_fraction": 0.0, "kl": 0.0, "ratio_mean": 0.0}
            magnet_kl = 0.0
            part_samples = sum(len(chunk) for chunk in part)
            part_tokens = sum(len(s.completion_ids) for chunk in part for s in chunk)
            for i, chunk in enumerate(part, start=first):
                out, normaliser, answer_logps = self._policy_forward(
                    chunk, entropy=epoch == 0 or entropy_coef > 0, entropy_grad=entropy_coef > 0,
                    with_answers=bool(magnet_coef) or state_loss)
                logp, ent, mask = out.logprobs, out.entropy, out.mask
                if epoch == 0:
                    if not own_old:
                        old.append(logp.detach())
                        old_normaliser.append(normaliser.detach())
                    ent_sum += float((ent.detach() * mask).sum())
                    sampled = padded([s.sampling_logprobs for s in chunk], mask.shape[1], self.device)
                    sampled = sampled - first_token(old_normaliser[i], mask.shape[1])
                    drift_sum += float(((old[i] - sampled).abs() * mask).sum())
                    weights, capped = truncated_is_weights(old[i], sampled, mask, self.algo.is_cap)
                    is_weights.append(weights)
                    capped_sum += capped
                weight = (float(mask.sum()) / max(1, part_tokens) if self.algo.aggregation == "token_mean"
                          else len(chunk) / part_samples)
                if state_loss:  # a mean over the part's decisions, like the magnet term
                    advantages = [s.answer_advantages for s in chunk]
                    loss = (mmd_loss(answer_logps, [s.answer_probs for s in chunk], advantages, self.algo.mmd_step,
                                     magnet_coef) if self.algo.loss == "mmd"
                            else all_actions_loss(answer_logps, advantages)) / part_samples
                    terms = {"clip_fraction": 0.0, "kl": 0.0, "ratio_mean": 1.0}
                else:
                    loss, terms = policy_loss(
                        logp, old[i], torch.tensor([s.advantage for s in chunk], device=self.device), mask,
                        kind=self.algo.loss, clip=self.algo.clip, dual_clip=self.algo.dual_clip,
                        ref_logprobs=ref[i] if ref else None, kl_coef=self.algo.kl_coef,
                        entropy=ent if entropy_coef else None, entropy_coef=entropy_coef,
                        aggregation=self.algo.aggregation, constant_length=self.algo.constant_length,
                        token_weights=is_weights[i],
                    )
                    loss = loss * weight  # the chunk's share of its part's policy loss
                if magnet_coef:  # a mean over the part's samples, whatever the chunks and their tokens
                    kl = self._magnet_kl(answer_logps, magnet[i])
                    if self.algo.loss != "mmd":  # mmd's target already holds the magnet
                        loss = loss + magnet_coef * kl / part_samples
                    magnet_kl += float(kl.detach()) / part_samples
                with self.watch("backward"):
                    loss.backward()
                loss_total += float(loss.detach())
                token_share = float(mask.sum()) / max(1, part_tokens)
                for key in agg:
                    agg[key] += terms[key] * token_share
            grad_norm, applied = self._update(loss_total, step)
            update_stats.append({"loss": loss_total, "grad_norm": grad_norm, **agg, "magnet_kl": magnet_kl,
                                 "skipped": float(not applied)})
        stats = _mean_stats(update_stats)
        first_epoch = _mean_stats(update_stats[:len(parts)])
        stats["first_epoch_ratio_mean"] = first_epoch["ratio_mean"]
        stats["first_epoch_clip_fraction"] = first_epoch["clip_fraction"]
        # How far the epochs fit the batch (under mmd: the KL to the step's target, before and late in the fit)
        stats["first_epoch_loss"] = first_epoch["loss"]
        stats["last_epoch_loss"] = _mean_stats(update_stats[-len(parts):])["loss"]
        stats["entropy"] = ent_sum / max(1, total_tokens)
        stats["logprob_drift"] = drift_sum / max(1, total_tokens)  # |learner - sampler| log-prob per token
        stats["is_capped_fraction"] = capped_sum / max(1, total_tokens)  # tokens whose importance weight hit is_cap
        sequence_tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
        stats["learner_tokens_per_s"] = sequence_tokens * self.algo.ppo_epochs / (time.perf_counter() - started)
        stats["lr"] = self.optimizer.param_groups[0]["lr"]
        stats["entropy_coef"], stats["magnet_coef"] = entropy_coef, magnet_coef
        stats.update({f"time/learner.{part}": seconds for part, seconds in self.watch.seconds.items()})
        return stats

    def _update(self, loss_total: float, step: int) -> tuple[float, bool]:
        """Clip the accumulated gradients and apply them (skipped when the loss or the norm is not finite)."""
        with self.watch("optimizer"):
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.trainer.max_grad_norm))
            applied = math.isfinite(loss_total) and math.isfinite(grad_norm)
            if applied:
                lr = self.learning_rate(step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.optimizer.step()
                self.updates += 1
            else:
                self.optimizer.zero_grad(set_to_none=True)
                self.skipped_updates += 1
        return grad_norm, applied

    def _iterate(self):
        """A context in which the model is the iterate pi_t (the initial model until the first refresh)."""
        if self.iterate_weights is None:
            return self._reference()
        return opponent_adapter(self.model, self.iterate_weights, slot=ITERATE_ADAPTER)

    def _sequence_logps(self, chunk: list[LearnerSample]) -> torch.Tensor:
        """Each sample's summed completion log-prob under the active weights, ``[B]``."""
        out = self._forward(chunk)[0]
        return (out.logprobs * out.mask).sum(-1)

    def _groups(self, samples: list[LearnerSample]) -> list[list[list[LearnerSample]]]:
        """Micro-batches of whole prompt groups (a pair loss needs both answers in one graph), `_cut`."""
        groups: dict[int, list[LearnerSample]] = {}
        for s in samples:
            groups.setdefault(s.group, []).append(s)
        for members in groups.values():
            if any(len(s.preference) != len(members) for s in members):
                raise ValueError("a preference sample's row must have one entry per answer of its group")
        return self._cut(list(groups.values()))

    def preference_step(self, samples: list[LearnerSample], step: int = 1) -> dict[str, float]:
        """`ppo_epochs` updates of a preference loss (`algo.loss`) over prompt groups of ranked answers."""
        started = time.perf_counter()
        self.watch = Stopwatch()
        algo = self.algo
        micro = self._groups(samples)
        flat = [[s for group in chunk for s in group] for chunk in micro]
        with torch.no_grad(), eval_mode(self.model):
            with self._iterate():
                iterate = [self._sequence_logps(chunk) for chunk in flat]
            reference = None
            if algo.loss == "inpo" and algo.inpo_tau:
                with self._reference():
                    reference = [self._sequence_logps(chunk) - it for chunk, it in zip(flat, iterate)]
        matrices = [[torch.tensor([s.preference for s in group], device=self.device) for group in chunk]
                    for chunk in micro]
        terms = sum(preference_terms(algo.loss, m) for chunk in matrices for m in chunk)
        epoch_stats = []
        for _ in range(algo.ppo_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            loss_total = logratio_sum = 0.0
            for i, chunk in enumerate(micro):
                logratio = self._sequence_logps(flat[i]) - iterate[i]
                loss, start = torch.zeros((), device=self.device), 0
                for group, matrix in zip(chunk, matrices[i]):
                    end = start + len(group)
                    part = preference_loss(algo.loss, logratio[start:end], matrix, beta=algo.beta, tau=algo.inpo_tau,
                                              ref_logratio=None if reference is None else reference[i][start:end])
                    loss, start = loss + part, end
                loss = loss / max(1, terms)  # a mean over the batch's answers (sppo) or pairs
                with self.watch("backward"):
                    loss.backward()
                loss_total += float(loss.detach())
                logratio_sum += float(logratio.detach().sum())
            grad_norm, applied = self._update(loss_total, step)
            epoch_stats.append({"loss": loss_total, "grad_norm": grad_norm, "skipped": float(not applied),
                                "logratio_mean": logratio_sum / max(1, len(samples))})
        stats = {key: sum(e[key] for e in epoch_stats) / len(epoch_stats) for key in epoch_stats[0]}
        stats["preference_terms"] = float(terms)
        stats["lr"] = self.optimizer.param_groups[0]["lr"]
        sequence_tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
        stats["learner_tokens_per_s"] = sequence_tokens * algo.ppo_epochs / (time.perf_counter() - started)
        stats.update({f"time/learner.{part}": seconds for part, seconds in self.watch.seconds.items()})
        return stats

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "updates": self.updates,
                "skipped_updates": self.skipped_updates}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = state["updates"]
        self.skipped_updates = state["skipped_updates"]
