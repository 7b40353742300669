"""Log-probabilities of completions given prompts: the one implementation the LM player's tests,
the learner, the magnet KL and exploitability scoring share.

Shared prefix: the rows of a batch usually begin with the same tokens (chat template, system
text, the game's rules). With ``share_prefix`` the longest common prefix runs through the decoder
once (batch 1, with gradients when they are on) and every row's rest (its own prompt tail, then
its completion, right-padded) runs on top of that prefix's key/value cache, broadcast to the
batch. Without it the prefix is empty and each row runs whole: the same code path, so the two
agree up to float rounding (values and gradients; ``tests/test_logprobs.py``).

The LM head runs only at the positions that predict a completion token, never over the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class CompletionLogprobs:
    """Per-token results, ``[B, C]`` with ``C`` the longest completion; 0 past each row's end."""

    logprobs: torch.Tensor  # float32
    mask: torch.Tensor  # float32, 1 on real completion tokens
    entropy: torch.Tensor | None = None  # of the distribution each token was scored under


def shared_prefix_length(prompts: list[list[int]]) -> int:
    """The longest prefix all prompts share, leaving each prompt at least one token of its own
    (the position that predicts the first completion token must be in the per-row pass)."""
    shortest = min(len(p) for p in prompts)
    length = 0
    first = prompts[0]
    while length < shortest - 1 and all(p[length] == first[length] for p in prompts):
        length += 1
    return length


def _decoder_and_head(model):
    """The transformer body and the LM head (under peft: of the wrapped model, adapters active)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def _prefix_cache(decoder, prefix: list[int], rows: int, device):
    """The prefix's key/value cache, computed once and broadcast (a view, no copy) to ``rows`` rows."""
    from transformers import DynamicCache

    out = decoder(input_ids=torch.tensor([prefix], device=device), use_cache=True)
    layers = out.past_key_values.layers
    return DynamicCache(ddp_cache_data=[(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1))
                                        for layer in layers])


def completion_logprobs(model, prompts: list[list[int]], completions: list[list[int]], temperature: float = 1.0,
                        entropy: bool = False, entropy_grad: bool = False,
                        share_prefix: bool = True) -> CompletionLogprobs:
    """Log-probs of each completion token under ``log_softmax(logits / temperature)``.

    Entropies (``entropy=True``) are computed without gradient unless ``entropy_grad`` (an entropy
    bonus needs it). Differentiable under grad.
    """
    decoder, head = _decoder_and_head(model)
    device = next(model.parameters()).device
    rows = len(prompts)
    width_c = max(1, max(len(c) for c in completions))
    prefix = shared_prefix_length(prompts) if share_prefix else 0
    tails = [p[prefix:] + c for p, c in zip(prompts, completions)]
    width = max(len(t) for t in tails)
    input_ids = torch.tensor([t + [0] * (width - len(t)) for t in tails], device=device)
    tail_mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in tails], device=device)
    inputs = {"input_ids": input_ids, "position_ids": (prefix + torch.arange(width, device=device)).expand(rows, -1)}
    if prefix:
        inputs["past_key_values"] = _prefix_cache(decoder, prompts[0][:prefix], rows, device)
        inputs["attention_mask"] = torch.cat([torch.ones(rows, prefix, dtype=tail_mask.dtype, device=device),
                                              tail_mask], dim=1)
        inputs["use_cache"] = True
    else:
        inputs["attention_mask"] = tail_mask
        inputs["use_cache"] = False
    hidden = decoder(**inputs).last_hidden_state

    # Completion token j of row i sits at tail index len(prompt_i) - prefix + j; the hidden state
    # one position earlier predicts it.
    row_idx, col_idx, slot_idx, targets = [], [], [], []
    for i, (p, c) in enumerate(zip(prompts, completions)):
        start = len(p) - prefix - 1
        for j, token in enumerate(c):
            row_idx.append(i)
            col_idx.append(start + j)
            slot_idx.append(j)
            targets.append(token)
    rows_t = torch.tensor(row_idx, dtype=torch.long, device=device)
    slots_t = torch.tensor(slot_idx, dtype=torch.long, device=device)
    logits = head(hidden[rows_t, torch.tensor(col_idx, dtype=torch.long, device=device)]).float() / temperature
    log_z = logits.logsumexp(-1)
    picked = logits.gather(-1, torch.tensor(targets, dtype=torch.long, device=device)[:, None]).squeeze(-1) - log_z

    def place(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(rows, width_c, device=device).index_put((rows_t, slots_t), values)

    mask = torch.zeros(rows, width_c, device=device)
    mask[rows_t, slots_t] = 1.0
    result = CompletionLogprobs(place(picked), mask)
    if entropy:
        with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
            probs = (logits - log_z[:, None]).exp()
            result.entropy = place(log_z - (probs * logits).sum(-1))
    return result


def answer_logprobs(model, prompts: list[list[int]], answers: list[list[list[int]]],
                    temperature: float = 1.0, share_prefix: bool = True) -> list[torch.Tensor]:
    """For each prompt, the summed log-prob of each of its candidate answers: one ``[K_i]`` tensor per prompt.

    All (prompt, answer) rows go through one pass (differentiable under grad).
    """
    pairs = [(p, a) for p, candidates in zip(prompts, answers) for a in candidates]
    if not pairs:
        return [torch.zeros(0) for _ in prompts]
    scored = completion_logprobs(model, [p for p, _ in pairs], [a for _, a in pairs], temperature,
                                 share_prefix=share_prefix)
    totals = (scored.logprobs * scored.mask).sum(-1)
    return list(totals.split([len(c) for c in answers]))


def sequence_logprobs(model, prompt_ids_list: list[list[int]], completion_ids_list: list[list[int]],
                      temperature: float = 1.0) -> list[torch.Tensor]:
    """Per-token log-probs of each completion, one 1-D tensor per row (differentiable under grad)."""
    if not prompt_ids_list:
        return []
    scored = completion_logprobs(model, prompt_ids_list, completion_ids_list, temperature)
    return [scored.logprobs[i, : len(c)] for i, c in enumerate(completion_ids_list)]
