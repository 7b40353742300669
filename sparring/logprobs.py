"""Log-probabilities of completions given prompts: the one implementation the player's tests,
the learner and the evaluator share.

Rows are packed the way batched generation laid them out: prompts left-padded to one column,
completions right after it and right-padded, position ids counted over real tokens only. So a
forward pass keeps logits for the completion columns only, and recomputed log-probs equal the
ones recorded while sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # [B, P + C]
    attention_mask: torch.Tensor  # [B, P + C]
    position_ids: torch.Tensor  # [B, P + C]
    completion_ids: torch.Tensor  # [B, C]
    completion_mask: torch.Tensor  # [B, C] float, 1 on real completion tokens


def pack(prompts: list[list[int]], completions: list[list[int]], pad_id: int) -> PackedBatch:
    """Left-pad prompts to one width, right-pad completions after them."""
    width_p = max(len(p) for p in prompts)
    width_c = max(1, max(len(c) for c in completions))
    rows, masks, comp, comp_mask = [], [], [], []
    for prompt, completion in zip(prompts, completions):
        left = width_p - len(prompt)
        right = width_c - len(completion)
        rows.append([pad_id] * left + prompt + completion + [pad_id] * right)
        masks.append([0] * left + [1] * (len(prompt) + len(completion)) + [0] * right)
        comp.append(completion + [pad_id] * right)
        comp_mask.append([1.0] * len(completion) + [0.0] * right)
    attention = torch.tensor(masks)
    return PackedBatch(
        input_ids=torch.tensor(rows),
        attention_mask=attention,
        position_ids=(attention.cumsum(-1) - 1).clamp(min=0),
        completion_ids=torch.tensor(comp),
        completion_mask=torch.tensor(comp_mask),
    )


def completion_logprobs(model, batch: PackedBatch, temperature: float = 1.0, entropy: bool = False,
                        entropy_grad: bool = False):
    """Per-token log-probs of the completions ([B, C], float32), and their entropies if asked.

    Entropies are computed without gradient unless ``entropy_grad`` (an entropy bonus needs it).
    """
    width_c = batch.completion_ids.shape[1]
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                position_ids=batch.position_ids, logits_to_keep=width_c + 1, use_cache=False)
    logits = out.logits[:, :width_c].float() / temperature
    log_z = logits.logsumexp(-1)
    logprobs = logits.gather(-1, batch.completion_ids.unsqueeze(-1)).squeeze(-1) - log_z
    if not entropy:
        return logprobs, None
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        probs = (logits - log_z.unsqueeze(-1)).exp()
        ent = log_z - (probs * logits).sum(-1)
    return logprobs, ent


def answer_logprobs(model, prompts: list[list[int]], answers: list[list[list[int]]], pad_id: int,
                    temperature: float = 1.0) -> list[torch.Tensor]:
    """For each prompt, the summed log-prob of each of its candidate answers: one ``[K_i]`` tensor per prompt.

    All (prompt, answer) rows go through one forward pass (differentiable under grad).
    """
    rows = [(p, a) for p, candidates in zip(prompts, answers) for a in candidates]
    if not rows:
        return [torch.zeros(0) for _ in prompts]
    batch = pack([p for p, _ in rows], [a for _, a in rows], pad_id)
    logprobs, _ = completion_logprobs(model, batch, temperature)
    totals = (logprobs * batch.completion_mask).sum(-1)
    return list(totals.split([len(c) for c in answers]))


def sequence_logprobs(model, prompt_ids_list: list[list[int]], completion_ids_list: list[list[int]],
                      temperature: float = 1.0) -> list[torch.Tensor]:
    """Per-token log-probs of each completion, one 1-D tensor per row (differentiable under grad)."""
    if not prompt_ids_list:
        return []
    batch = pack(prompt_ids_list, completion_ids_list, pad_id=0)
    logprobs, _ = completion_logprobs(model, batch, temperature)
    return [logprobs[i, : len(c)] for i, c in enumerate(completion_ids_list)]
