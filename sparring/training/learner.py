"""The learner: one optimiser step (or `ppo_epochs` of them) over a batch of turn samples.

The "old" log-probs are the learner's own first-epoch forward pass, detached (same dtype, same
kernels, no extra pass), so the PPO ratio is exactly 1 on the first epoch; the sampling
log-probs recorded at generation time are kept for a drift diagnostic.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import torch

from sparring.logprobs import PackedBatch, completion_logprobs, pack
from sparring.training.losses import policy_loss


@dataclass
class LearnerSample:
    """What the learner needs of one LM turn."""

    prompt_ids: list[int]
    completion_ids: list[int]
    sampling_logprobs: list[float]
    advantage: float


def padded(rows: list[list[float]], width: int) -> torch.Tensor:
    return torch.tensor([row + [0.0] * (width - len(row)) for row in rows])


class Learner:
    """Owns the optimiser; `step` turns a batch of samples into (at most) `ppo_epochs` updates."""

    def __init__(self, model, algo, trainer, pad_id: int, temperature: float, autocast_bf16: bool):
        self.model = model
        self.algo = algo
        self.trainer = trainer
        self.pad_id = pad_id
        self.temperature = temperature
        self.autocast = autocast_bf16
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=trainer.lr, weight_decay=trainer.weight_decay, fused=True)
        warmup = max(1, trainer.warmup_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warmup))
        self.skipped_updates = 0

    def _compute(self):
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def _reference(self):
        """The reference policy: under LoRA the base model with adapters disabled."""
        disable = getattr(self.model, "disable_adapter", None)
        if disable is None:
            raise ValueError("a KL penalty needs LoRA (the reference is the base with adapters off)")
        return disable()

    def _micro_batches(self, samples: list[LearnerSample]):
        size = self.trainer.micro_batch
        for start in range(0, len(samples), size):
            chunk = samples[start:start + size]
            yield chunk, pack([s.prompt_ids for s in chunk], [s.completion_ids for s in chunk], self.pad_id)

    def _forward(self, batch: PackedBatch, entropy: bool = False):
        with self._compute():
            return completion_logprobs(self.model, batch, self.temperature, entropy)

    def step(self, samples: list[LearnerSample]) -> dict[str, float]:
        """Run the PPO epochs over `samples`; return averaged statistics."""
        started = time.perf_counter()
        total_tokens = sum(len(s.completion_ids) for s in samples)
        micro = list(self._micro_batches(samples))
        ref = []
        if self.algo.kl_coef > 0:
            with torch.no_grad(), self._reference():
                ref = [self._forward(batch)[0] for _, batch in micro]
        old: list[torch.Tensor] = []  # filled by the first epoch's own forward passes
        ent_sum = drift_sum = 0.0
        epoch_stats: list[dict[str, float]] = []
        for epoch in range(self.algo.ppo_epochs):
            self.optimizer.zero_grad(set_to_none=True)
            loss_total, agg = 0.0, {"clip_fraction": 0.0, "kl": 0.0, "ratio_mean": 0.0}
            for i, (chunk, batch) in enumerate(micro):
                logp, ent = self._forward(batch, entropy=epoch == 0)
                mask = batch.completion_mask
                if epoch == 0:
                    old.append(logp.detach())
                    ent_sum += float((ent * mask).sum())
                    sampled = padded([s.sampling_logprobs for s in chunk], mask.shape[1])
                    drift_sum += float(((old[i] - sampled).abs() * mask).sum())
                weight = (float(mask.sum()) / max(1, total_tokens) if self.algo.aggregation == "token_mean"
                          else len(chunk) / len(samples))
                loss, part = policy_loss(
                    logp, old[i], torch.tensor([s.advantage for s in chunk]), mask,
                    kind=self.algo.loss, clip=self.algo.clip, dual_clip=self.algo.dual_clip,
                    ref_logprobs=ref[i] if ref else None, kl_coef=self.algo.kl_coef,
                    aggregation=self.algo.aggregation, constant_length=self.algo.constant_length,
                )
                (loss * weight).backward()
                loss_total += float(loss.detach()) * weight
                token_share = float(mask.sum()) / max(1, total_tokens)
                for key in agg:
                    agg[key] += part[key] * token_share
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.trainer.max_grad_norm))
            applied = math.isfinite(loss_total) and math.isfinite(grad_norm)
            if applied:
                self.optimizer.step()
                self.scheduler.step()
            else:
                self.optimizer.zero_grad(set_to_none=True)
                self.skipped_updates += 1
            epoch_stats.append({"loss": loss_total, "grad_norm": grad_norm, **agg, "skipped": float(not applied)})
        stats = {key: sum(e[key] for e in epoch_stats) / len(epoch_stats) for key in epoch_stats[0]}
        stats["first_epoch_ratio_mean"] = epoch_stats[0]["ratio_mean"]
        stats["first_epoch_clip_fraction"] = epoch_stats[0]["clip_fraction"]
        stats["entropy"] = ent_sum / max(1, total_tokens)
        stats["logprob_drift"] = drift_sum / max(1, total_tokens)  # |learner - sampler| log-prob per token
        sequence_tokens = sum(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
        stats["learner_tokens_per_s"] = sequence_tokens * self.algo.ppo_epochs / (time.perf_counter() - started)
        stats["lr"] = self.scheduler.get_last_lr()[0]
        return stats

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "skipped_updates": self.skipped_updates}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.skipped_updates = state["skipped_updates"]
