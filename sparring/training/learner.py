"""The learner engine: the optimiser, micro-batches cut by tokens, forward passes, importance weights, and
`ppo_epochs` passes of updates over a batch. What a paradigm trains toward is its `Objective` (one per
algorithm, `sparring.training.algorithms`): the engine asks it how to cut the batch into parts (one optimiser
update each), runs its no-grad passes once, then sums its loss over each part's micro-batches, backward per
micro-batch, and applies the update.

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
from dataclasses import dataclass, field
from typing import Protocol

import torch

from sparring.logprobs import (
    CompletionLogprobs, PassSize, PromptContext, answer_logprobs, answer_totals, completion_logprobs, joined_context,
    prompt_context, split_rows,
)
from sparring.training.metrics import Stopwatch
from sparring.training.regularisers import coefficient


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
    role: str = ""  # the role that played it (per-role adapters train each role on its own samples)


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


def mean_stats(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(row[key] for row in rows) / len(rows) for key in rows[0]}


class Objective(Protocol):
    """What one paradigm trains toward, as the learner engine asks for it within one learner step."""

    def parts(self, learner: Learner, samples: list[LearnerSample]) -> list[list[list[LearnerSample]]]:
        """The step's samples as parts (one optimiser update each) of micro-batches (one backward each)."""

    def prepare(self, learner: Learner, micro: list[list[LearnerSample]], step: int) -> None:
        """The no-grad passes the loss compares against (old, reference, magnet, iterate), once per step."""

    def loss(self, learner: Learner, index: int, chunk: list[LearnerSample], epoch: int,
             part: list[list[LearnerSample]]) -> tuple[torch.Tensor, dict[str, float]]:
        """Micro-batch `index` (of the step's flat list) of `part`: its share of the part's loss, and
        statistics the engine sums over the part's micro-batches."""

    def statistics(self, updates: list[dict[str, float]], parts: int, samples: list[LearnerSample]) -> dict[str, float]:
        """The step's statistics from each update's summed terms (epoch by epoch, `parts` per epoch)."""


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
        self.watch = Stopwatch()  # seconds in forward passes, backward passes and optimiser updates
        self.context: PromptContext | None = None  # algo.prompt_gradient=false: the step's prompts, run once

    def compute(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def reference(self):
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

    def minibatches(self, samples: list[LearnerSample]) -> list[list[LearnerSample]]:
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

    def micro_batches(self, samples: list[LearnerSample]) -> list[list[LearnerSample]]:
        """Micro-batches in prompt order, so that samples sharing a prefix travel together (`cut`)."""
        ordered = sorted(samples, key=lambda s: s.prompt_ids) if self.algo.shared_prefix else samples
        return [[s for unit in chunk for s in unit] for chunk in self.cut([[s] for s in ordered])]

    def cut(self, units: list[list[LearnerSample]]) -> list[list[list[LearnerSample]]]:
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
        """The rows `forward` runs for these samples: each completion, and each legal answer it reads."""
        for s in unit:
            size.add(s.prompt_ids, s.completion_ids)
            for answer in s.legal_answers if self.reads_answers else []:
                size.add(s.prompt_ids, answer)

    def forward(self, chunk: list[LearnerSample], entropy: bool = False, entropy_grad: bool = False,
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
        with self.watch("forward"), self.compute():
            scored = completion_logprobs(self.model, prompts, completions, self.temperature, entropy, entropy_grad,
                                         share_prefix=self.algo.shared_prefix, context=self.context)
        own, answers = split_rows(scored, len(chunk))
        return own, answer_totals(answers, counts) if with_answers else []

    def policy_forward(self, chunk: list[LearnerSample], entropy: bool = False, entropy_grad: bool = False,
                        with_answers: bool = False) -> tuple[CompletionLogprobs, torch.Tensor, list[torch.Tensor]]:
        """`forward`, its log-probs those of the policy term, and the normaliser ``[B]`` taken off them:
        under legal-move play each sample's ``log sum_b p(b)`` over its legal answers (0 without any),
        on its first token; else 0."""
        renormalise = self.renormalise
        out, answer_logps = self.forward(chunk, entropy, entropy_grad, with_answers or renormalise)
        if not renormalise:
            return out, torch.zeros(len(chunk), device=self.device), answer_logps
        normaliser = torch.stack([lp.logsumexp(0) if lp.numel() else lp.new_zeros(()) for lp in answer_logps])
        out = CompletionLogprobs(out.logprobs - first_token(normaliser, out.logprobs.shape[1]), out.mask, out.entropy)
        return out, normaliser, answer_logps

    def answer_logps(self, chunk: list[LearnerSample]) -> list[torch.Tensor]:
        """Each sample's legal answers' summed log-probs under the active weights."""
        with self.watch("forward"), self.compute():
            return answer_logprobs(self.model, [s.prompt_ids for s in chunk], [s.legal_answers for s in chunk],
                                   self.temperature, share_prefix=self.algo.shared_prefix)

    def step(self, samples: list[LearnerSample], step: int = 1, *, objective: Objective,
             context: PromptContext | None = None) -> dict[str, float]:
        """`ppo_epochs` passes over `samples`, each one optimiser update per part `objective.parts` cuts them
        into (learner step `step`, for schedules); return the objective's statistics and the engine's. Under
        ``algo.prompt_gradient: false`` the updates run on the prompts' `context` (as a scoring pass under the
        current weights left it), else on one computed here."""
        started = time.perf_counter()
        self.watch = Stopwatch()
        parts = objective.parts(self, samples)
        objective.prepare(self, [chunk for part in parts for chunk in part], step)
        if not self.algo.prompt_gradient:  # after prepare: its passes run other weights (reference, magnet)
            with self.watch("prompt_context"), self.compute():
                # in micro-batch order, so each micro-batch's prompts are a run of the context's rows
                ordered = [s.prompt_ids for part in parts for chunk in part for s in chunk]
                self.context = (joined_context([context], ordered, release=True) if context is not None
                                else prompt_context(self.model, ordered))
        updates: list[dict[str, float]] = []  # one per optimiser update: epoch by epoch, part by part
        for epoch, (first, part) in itertools.product(range(self.algo.ppo_epochs), _numbered(parts)):
            self.optimizer.zero_grad(set_to_none=True)
            loss_total, terms = 0.0, {}
            for i, chunk in enumerate(part, start=first):
                loss, chunk_terms = objective.loss(self, i, chunk, epoch, part)
                with self.watch("backward"):
                    loss.backward()
                loss_total += float(loss.detach())
                for key, value in chunk_terms.items():
                    terms[key] = terms.get(key, 0.0) + value
            grad_norm, applied = self._update(loss_total, step)
            updates.append({"loss": loss_total, "grad_norm": grad_norm, **terms, "skipped": float(not applied)})
        self.context = None
        stats = objective.statistics(updates, len(parts), samples)
        sequence_tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
        stats["learner_tokens_per_s"] = sequence_tokens * self.algo.ppo_epochs / (time.perf_counter() - started)
        stats["lr"] = self.optimizer.param_groups[0]["lr"]
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

    def sequence_logps(self, chunk: list[LearnerSample]) -> torch.Tensor:
        """Each sample's summed completion log-prob under the active weights, ``[B]``."""
        out = self.forward(chunk)[0]
        return (out.logprobs * out.mask).sum(-1)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "updates": self.updates,
                "skipped_updates": self.skipped_updates}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = state["updates"]
        self.skipped_updates = state["skipped_updates"]
