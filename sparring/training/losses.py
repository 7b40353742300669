"""Policy-gradient losses over padded per-token tensors.

Shapes: ``logprobs``, ``old_logprobs``, ``ref_logprobs`` and ``mask`` are ``[B, T]``
(``mask`` is 1 on completion tokens, 0 on prompt and padding); ``advantages`` is ``[B]``,
one value per turn sample, shared by all its tokens. Padded positions must hold finite
values; they never reach the loss.
"""

from __future__ import annotations

from typing import Literal

import torch


def token_logprobs(logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each target token, ``[B, T, V], [B, T] -> [B, T]`` in float32.

    ``logits[b, t]`` scores ``target_ids[b, t]``: shift them before the call (for a causal
    LM, ``logits[:, :-1]`` with ``input_ids[:, 1:]``). Works one sequence at a time so only
    one ``[T, V]`` float32 copy exists at once.
    """
    rows = []
    for row_logits, row_targets in zip(logits, target_ids):
        row = row_logits.float()
        picked = row.gather(-1, row_targets.unsqueeze(-1)).squeeze(-1)
        rows.append(picked - row.logsumexp(-1))
    return torch.stack(rows)


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    kind: Literal["ppo", "reinforce"] = "ppo",
    clip: float = 0.2,
    dual_clip: float | None = None,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    aggregation: Literal["constant", "token_mean"] = "constant",
    constant_length: int = 256,
    token_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Scalar policy loss and float stats.

    Per-token loss, with ``r = exp(logprobs - old_logprobs)``:

    * ``ppo``: ``max(-A r, -A clip(r, 1-clip, 1+clip))``. With ``dual_clip = c > 1``
      (Ye et al. 2020, used by MARS) tokens with ``A < 0`` are further capped:
      ``min(ppo, -c A)``, so a huge ratio cannot make a negative-advantage loss unbounded.
    * ``reinforce``: ``-A logprobs`` (no importance ratio).

    With ``token_weights`` (``[B, T]``, no gradient) the policy-gradient term of each token is
    multiplied by its weight (a truncated importance weight learner/sampler); KL and entropy are not.

    With ``ref_logprobs``, ``kl_coef * k3`` is added per token, where
    ``k3 = exp(ref - logp) - (ref - logp) - 1 >= 0`` estimates KL(policy || reference).
    With ``entropy`` (``[B, T]``, differentiable), ``entropy_coef * entropy`` is subtracted per
    token: an entropy bonus.

    Aggregation: ``"constant"`` sums masked token losses and divides by
    ``B * constant_length`` (Dr. GRPO, SPIRAL), so long answers are not down-weighted;
    ``"token_mean"`` averages over masked tokens.

    Stats (means over masked tokens): ``clip_fraction``, the share where the PPO clip is
    active, i.e. the clipped term was chosen and the token gets no gradient (``A > 0`` and
    ``r > 1+clip``, or ``A < 0`` and ``r < 1-clip``; always 0 for ``reinforce``);
    ``dual_clip_fraction``, the share capped by the dual clip; ``kl`` (mean k3, 0 without
    ``ref_logprobs``); ``ratio_mean``.
    """
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1, got {dual_clip}")
    valid = mask.bool()
    adv = advantages.to(logprobs.dtype).unsqueeze(-1)
    ratio = torch.exp(logprobs - old_logprobs.detach())
    clipped_active = torch.zeros_like(valid)
    dual_active = torch.zeros_like(valid)
    if kind == "ppo":
        unclipped = -adv * ratio
        clipped = -adv * ratio.clamp(1.0 - clip, 1.0 + clip)
        per_token = torch.maximum(unclipped, clipped)
        clipped_active = clipped > unclipped
        if dual_clip is not None:
            cap = -dual_clip * adv
            dual_active = (adv < 0) & (per_token > cap)
            per_token = torch.where(dual_active, cap, per_token)
    elif kind == "reinforce":
        per_token = -adv * logprobs
    else:
        raise ValueError(f"kind must be 'ppo' or 'reinforce', got {kind!r}")
    if token_weights is not None:
        per_token = per_token * token_weights.detach()

    k3 = torch.zeros_like(logprobs)
    if ref_logprobs is not None:
        delta = ref_logprobs.detach() - logprobs
        k3 = torch.exp(delta) - delta - 1.0
        per_token = per_token + kl_coef * k3
    if entropy is not None and entropy_coef:
        per_token = per_token - entropy_coef * entropy

    total = torch.where(valid, per_token, 0.0).sum()
    n_tokens = valid.sum().clamp(min=1)
    if aggregation == "constant":
        loss = total / (logprobs.shape[0] * constant_length)
    elif aggregation == "token_mean":
        loss = total / n_tokens
    else:
        raise ValueError(f"aggregation must be 'constant' or 'token_mean', got {aggregation!r}")

    def masked_mean(x: torch.Tensor) -> float:
        return float(torch.where(valid, x.detach().float(), 0.0).sum() / n_tokens)

    stats = {
        "clip_fraction": masked_mean(clipped_active),
        "dual_clip_fraction": masked_mean(dual_active),
        "kl": masked_mean(k3),
        "ratio_mean": masked_mean(ratio),
    }
    return loss, stats


def all_actions_loss(answer_logps: list[torch.Tensor], advantages: list[list[float]]) -> torch.Tensor:
    """Summed over decisions: ``-sum_a pi(a) A(a)``, ``pi`` the softmax of a decision's legal answers'
    log-probs ``[K]`` and ``A`` their advantages. Its gradient is the expectation over the move of the
    sampled policy gradient ``-A(a) grad log pi(a)``: the same direction without the draw's noise."""
    terms = [-(torch.softmax(lp, 0) * lp.new_tensor(adv)).sum() for lp, adv in zip(answer_logps, advantages) if adv]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def mmd_loss(answer_logps: list[torch.Tensor], old_probs: list[list[float]], advantages: list[list[float]],
             step: float, coef: float) -> torch.Tensor:
    """Summed over decisions: ``KL(target || pi)``, ``pi`` the softmax of a decision's legal answers' log-probs
    ``[K]`` and ``target`` one magnetic mirror descent step (uniform magnet) from the policy that played,
    ``target ∝ (old * exp(step * A)) ** (1 / (1 + step * coef))``. The step is taken in policy space, so however
    far an optimiser update goes, its loss is least at that target."""
    terms = []
    for lp, old, adv in zip(answer_logps, old_probs, advantages):
        logits = (lp.new_tensor(old).log() + step * lp.new_tensor(adv)) / (1 + step * coef)
        target = torch.softmax(logits, 0)
        terms.append((target * (target.clamp_min(1e-30).log() - torch.log_softmax(lp, 0))).sum())
    return torch.stack(terms).sum() if terms else torch.zeros(())


def preference_loss(
    kind: Literal["sppo", "dpo", "ipo", "inpo"],
    logratio: torch.Tensor,
    preference: torch.Tensor,
    *,
    beta: float,
    tau: float = 0.0,
    ref_logratio: torch.Tensor | None = None,
) -> torch.Tensor:
    """Summed loss over the answers of one prompt (`preference_terms` counts its terms).

    ``logratio[i] = log pi(y_i) - log pi_t(y_i)``, sequence log-probs under the policy and the iterate
    ``pi_t``; ``preference[i, j] = P(y_i > y_j)`` with ``P + P^T = 1`` (so ``P[i, i] = 1/2``). With
    ``eta = 1 / beta``:

    * ``sppo`` (Wu et al. 2024, eq. 3.5) over every answer: ``(logratio_i - eta (P_i - 1/2))^2`` with
      ``P_i = mean_j P[i, j]``, the answer's win probability against the group (itself included at 1/2).
    * the pair losses, with ``h = logratio_i - logratio_j``, over every pair the judge does not call a tie
      (``P[i, j] != P[j, i]``), its label drawn from Bernoulli(``P[i, j]``): each ordered pair's term is
      weighted by ``P[i, j]``. ``dpo`` ``-log sigmoid(beta h)`` (SPIN when ``y_i`` is the data's answer),
      least at ``beta h = logit P``; ``ipo`` ``(h - eta / 2)^2``, least at ``h = eta (P - 1/2)``;
      ``inpo`` (Zhang et al. 2024) ``(h - eta tau (r_i - r_j) - eta / 2)^2`` with
      ``r = ref_logratio = log pi_ref - log pi_t``: IPO against the geometric mixture
      ``pi_ref^(eta tau) pi_t^(1 - eta tau)``; ``tau = 0`` is ``ipo``. A rule judge's 0/1 preference is the
      hard label: one full term for the preferred order, none for the other.
    """
    eta = 1.0 / beta
    if kind == "sppo":
        win = preference.mean(dim=1)
        return ((logratio - eta * (win - 0.5)) ** 2).sum()
    # A pair is a tie when P[i, j] = P[j, i]; zero-weight orders are left out, so a 0/1 matrix sums exactly
    # the hard-label terms.
    firsts, seconds = torch.nonzero((preference != preference.T) & (preference > 0), as_tuple=True)
    weights = preference[firsts, seconds].to(logratio.dtype)
    h = logratio[firsts] - logratio[seconds]
    if kind == "dpo":
        terms = -torch.nn.functional.logsigmoid(beta * h)
    elif kind == "ipo":
        terms = (h - eta / 2) ** 2
    elif kind == "inpo":
        mixed = 0.0 if ref_logratio is None else eta * tau * (ref_logratio[firsts] - ref_logratio[seconds])
        terms = (h - mixed - eta / 2) ** 2
    else:
        raise ValueError(f"kind must be one of sppo, dpo, ipo, inpo; got {kind!r}")
    return (weights * terms).sum()


def preference_terms(kind: str, preference: torch.Tensor) -> int:
    """How many terms `preference_loss` sums for a group: its answers (sppo) or its pairs that are no tie
    (the two weighted orders of a pair make one term)."""
    return preference.shape[0] if kind == "sppo" else int((preference != preference.T).sum()) // 2
