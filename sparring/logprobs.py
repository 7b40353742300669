"""Log-probabilities of completions given prompts: the one implementation the LM player's tests,
the learner, the magnet KL and exploitability scoring share.

Shared prefix: the rows of a batch usually begin with the same tokens (chat template, system
text, the game's rules), and in small games many rows have the very same prompt (one information
state, several samples). With ``share_prefix`` the batch runs as a tree: the longest common prefix
once (batch 1, with gradients when they are on), then each *distinct* prompt's own tail once on
that prefix's key/value cache, then every distinct (prompt, completion) pair's completion on its
prompt's cache (rows repeating a pair share its result). Without it each row runs whole in one
pass. The two agree up to float rounding, values and gradients
(``tests/test_logprobs.py``).

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


class PassSize:
    """The token positions one :func:`completion_logprobs` pass holds, grown row by row: the learner's
    memory measure (``trainer.micro_batch_tokens``). With ``share_prefix``: the common prefix once, each
    distinct prompt's tail padded to the longest, and each distinct (prompt, completion) row's completion
    with the key/value context it attends over; without it, every row whole, padded to the longest."""

    def __init__(self, share_prefix: bool = True):
        self.share_prefix = share_prefix
        self.rows = 0
        self.prompts: set[tuple[int, ...]] = set()
        self.pairs: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        self.first: tuple[int, ...] | None = None
        self.common = 0  # the longest prefix of every prompt so far
        self.shortest = self.longest = self.completion = 0

    def add(self, prompt: list[int], completion: list[int]) -> None:
        key = tuple(prompt)
        if self.first is None:
            self.first, self.common, self.shortest = key, len(key), len(key)
        else:
            limit = min(self.common, len(key))
            self.common = next((i for i in range(limit) if self.first[i] != key[i]), limit)
            self.shortest = min(self.shortest, len(key))
        self.rows += 1
        self.prompts.add(key)
        self.pairs.add((key, tuple(completion)))
        self.longest = max(self.longest, len(key))
        self.completion = max(self.completion, len(completion))

    @property
    def tokens(self) -> int:
        if not self.share_prefix:
            return self.rows * (self.longest + self.completion)
        prefix = min(self.common, max(0, self.shortest - 1))  # as shared_prefix_length: a token of its own per row
        tail = self.longest - prefix
        return prefix + len(self.prompts) * tail + len(self.pairs) * (self.longest + self.completion)


def pass_tokens(prompts: list[list[int]], completions: list[list[int]], share_prefix: bool = True) -> int:
    """:class:`PassSize` of these rows."""
    size = PassSize(share_prefix)
    for prompt, completion in zip(prompts, completions):
        size.add(prompt, completion)
    return size.tokens


def _decoder_and_head(model):
    """The transformer body and the LM head (under peft: of the wrapped model, adapters active)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def _cache(past, rows: torch.Tensor | int):
    """A new cache holding `past`'s keys and values for the given rows (an index tensor), or for
    its single row broadcast to `rows` rows (an int; a view, no copy)."""
    from transformers import DynamicCache

    def pick(x: torch.Tensor) -> torch.Tensor:
        return x.expand(rows, -1, -1, -1) if isinstance(rows, int) else x.index_select(0, rows)

    return DynamicCache(ddp_cache_data=[(pick(layer.keys), pick(layer.values)) for layer in past.layers])


def _index(values: list[int], device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long, device=device)


def _padded(rows: list[list[int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids and their mask."""
    width = max(1, max(len(r) for r in rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows], device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    return ids, mask


def _scored_positions(prompts: list[list[int]], completions: list[list[int]], temperature: float, device,
                      logits: torch.Tensor, entropy: bool, entropy_grad: bool) -> CompletionLogprobs:
    """Log-probs (and entropies) from ``hidden``: ``[N, V]``, the LM head's logits at every completion
    token's predicting position, in row-major order (row 0's tokens, then row 1's...)."""
    rows = len(prompts)
    width_c = max(1, max(len(c) for c in completions))
    rows_t = torch.tensor([i for i, c in enumerate(completions) for _ in c], dtype=torch.long, device=device)
    slots_t = torch.tensor([j for c in completions for j in range(len(c))], dtype=torch.long, device=device)
    targets = torch.tensor([t for c in completions for t in c], dtype=torch.long, device=device)
    logits = logits.float() / temperature
    log_z = logits.logsumexp(-1)
    picked = logits.gather(-1, targets[:, None]).squeeze(-1) - log_z

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


def _plain_states(decoder, prompts, completions, device) -> torch.Tensor:
    """Every row whole (prompt + completion) in one pass; the states that predict completion tokens."""
    ids, mask = _padded([p + c for p, c in zip(prompts, completions)], device)
    positions = torch.arange(ids.shape[1], device=device).expand(len(prompts), -1)
    hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
    rows = [i for i, c in enumerate(completions) for _ in c]
    cols = [len(p) - 1 + j for p, c in zip(prompts, completions) for j in range(len(c))]
    return hidden[_index(rows, device), _index(cols, device)]


def _shared_states(decoder, prompts, completions, device) -> torch.Tensor:
    """The same states as :func:`_plain_states`, computed as a tree: the common prefix once, each
    distinct prompt's own tail once on top of it, then each row's completion on its prompt's cache."""
    distinct: dict[tuple[int, ...], int] = {}
    of_row = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
    out, seen, tails = _prefix_tree(decoder, [list(p) for p in distinct], device)
    # The first completion token is predicted by the last state of its prompt's tail.
    firsts = [(of_row[i], len(tails[of_row[i]]) - 1) for i, c in enumerate(completions) if c]
    first_states = out.last_hidden_state[_index([r for r, _ in firsts], device), _index([k for _, k in firsts], device)]
    fed = [c[:-1] for c in completions]  # a completion's last token is predicted, never fed
    if not any(fed):
        return first_states
    rows = _index(of_row, device)
    fed_ids, fed_mask = _padded(fed, device)
    starts = torch.tensor([len(p) for p in prompts], device=device)  # prefix + tail: each row's whole prompt
    later = decoder(input_ids=fed_ids, past_key_values=_cache(out.past_key_values, rows), use_cache=True,
                    attention_mask=torch.cat([seen.index_select(0, rows), fed_mask], dim=1),
                    position_ids=starts[:, None] + torch.arange(fed_ids.shape[1], device=device)).last_hidden_state
    # Interleave into row-major order: row i's token 0 from the tail pass, tokens 1.. from this one.
    states, k = [], 0
    for i, c in enumerate(completions):
        if c:
            states.append(first_states[k:k + 1])
            states.append(later[i, :len(c) - 1])
            k += 1
    return torch.cat(states)


@dataclass
class PromptContext:
    """The keys and values of a batch's distinct prompts, each but its last token, computed once without
    gradient (`prompt_context`): a later pass runs only each prompt's last token and its completion on them."""

    rows: dict[tuple[int, ...], int]  # each distinct prompt's row
    keys_values: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, ``[U, heads, width, dim]``
    mask: torch.Tensor  # ``[U, width]``, 1 on each prompt's own positions

    def cache(self, rows: slice = slice(None)):
        """A fresh cache over these keys and values (a pass appends to its cache; these stay as they are)."""
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[(k[rows], v[rows]) for k, v in self.keys_values])


def prompt_context(model, prompts: list[list[int]], batch: int = 32) -> PromptContext:
    """`PromptContext` of these prompts under the model's current weights, their rows in order of first
    appearance, run `batch` distinct prompts at a time as a tree (`_shared_states`): the common prefix once,
    then each prompt's tail but its last token."""
    decoder, _ = _decoder_and_head(model)
    device = next(model.parameters()).device
    distinct = list(dict.fromkeys(tuple(p) for p in prompts))
    if any(len(p) < 2 for p in distinct):
        raise ValueError("a prompt context needs prompts of two tokens or more")
    heads = [list(p[:-1]) for p in distinct]
    parts = [_context_part(decoder, heads[i:i + batch], device) for i in range(0, len(heads), batch)]
    return joined_context([PromptContext({p: k for k, p in enumerate(distinct[i * batch:(i + 1) * batch])}, kv, mask)
                           for i, (kv, mask) in enumerate(parts)], release=True)


def joined_context(contexts: list[PromptContext], prompts: list[list[int]] | None = None,
                   release: bool = False) -> PromptContext:
    """One context of the given prompts' rows (default: every row of each context, in order), gathered from
    `contexts` and right-padded to one width. With `release` each source layer is let go once gathered (the
    sources are spent), so the copy never holds two whole contexts at once."""
    where = {p: (c, row) for c, context in enumerate(contexts) for p, row in context.rows.items()}
    order = list(dict.fromkeys(tuple(p) for p in prompts)) if prompts is not None else list(where)
    width = max(context.mask.shape[1] for context in contexts)
    picks = [[where[p][1] for p in order if where[p][0] == c] for c in range(len(contexts))]
    placed = {p: k for k, p in enumerate(p for c in range(len(contexts)) for p in order if where[p][0] == c)}
    final = [placed[p] for p in order]  # each prompt's row in the gathered tensors, in `order`
    in_order = final == list(range(len(final)))

    def gather(tensors: list[torch.Tensor]) -> torch.Tensor:
        pieces = [torch.nn.functional.pad(t[rows], (0, 0, 0, width - t.shape[2])) for t, rows in zip(tensors, picks) if rows]
        out = torch.cat(pieces)
        return out if in_order else out[final]

    layers = []
    for i in range(len(contexts[0].keys_values)):
        layers.append((gather([c.keys_values[i][0] for c in contexts]), gather([c.keys_values[i][1] for c in contexts])))
        if release:
            for c in contexts:
                c.keys_values[i] = None
    masks = [torch.nn.functional.pad(c.mask[rows], (0, width - c.mask.shape[1])) for c, rows in zip(contexts, picks) if rows]
    mask = torch.cat(masks)
    return PromptContext({p: k for k, p in enumerate(order)}, layers, mask if in_order else mask[final])


def _context_part(decoder, heads: list[list[int]], device) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """Keys and values (per layer) and mask of these token rows, no gradient."""
    with torch.no_grad():
        out, mask, _ = _prefix_tree(decoder, heads, device)
    return [(layer.keys, layer.values) for layer in out.past_key_values.layers], mask


def _prefix_tree(decoder, unique: list[list[int]], device):
    """Distinct token rows as a tree: their common prefix once (batch 1), then each row's own tail on its cache.
    Returns the tails' pass (states and cache), its attention mask over prefix + tail, and the tails."""
    prefix = shared_prefix_length(unique) if len(unique) > 1 else len(unique[0]) - 1
    tails = [p[prefix:] for p in unique]
    tail_ids, tail_mask = _padded(tails, device)
    u = len(unique)
    inputs = {"input_ids": tail_ids, "use_cache": True,
              "position_ids": (prefix + torch.arange(tail_ids.shape[1], device=device)).expand(u, -1)}
    seen = tail_mask
    if prefix:
        first = decoder(input_ids=torch.tensor([unique[0][:prefix]], device=device), use_cache=True)
        inputs["past_key_values"] = _cache(first.past_key_values, u)
        seen = torch.cat([torch.ones(u, prefix, dtype=tail_mask.dtype, device=device), tail_mask], dim=1)
    return decoder(attention_mask=seen, **inputs), seen, tails


def _context_states(decoder, context: PromptContext, prompts, completions, device) -> torch.Tensor:
    """The states that predict the completion tokens, from each prompt's last token and its completion run on
    `context` (the prompts' other positions, no gradient through them): one pass, each distinct prompt's row."""
    of_row = [context.rows[tuple(p)] for p in prompts]
    lasts: dict[tuple, tuple] = {}  # (context row, fed tokens: its last prompt token, then a completion) -> fed row
    fed_row: list[int] = []  # the fed row each input row reads
    for row, p, c in zip(of_row, prompts, completions):
        tokens = [p[-1]] + list(c[:-1])
        key = (row, tuple(tokens))
        fed_row.append(lasts.setdefault(key, (len(lasts), row, tokens))[0])
    order = sorted(lasts.values())
    fed_ids, fed_mask = _padded([tokens for _, _, tokens in order], device)
    sources = [row for _, row, _ in order]
    if sources == list(range(sources[0], sources[0] + len(sources))):  # a run of rows: views, no copy
        cache = context.cache(slice(sources[0], sources[0] + len(sources)))
        mask = context.mask[sources[0]:sources[0] + len(sources)]
    else:
        source = _index(sources, device)
        cache, mask = _cache(context.cache(), source), context.mask.index_select(0, source)
    starts = mask.sum(-1)
    hidden = decoder(input_ids=fed_ids, past_key_values=cache, use_cache=True,
                     attention_mask=torch.cat([mask, fed_mask], dim=1),
                     position_ids=starts[:, None] + torch.arange(fed_ids.shape[1], device=device)).last_hidden_state
    rows = [fed_row[i] for i, c in enumerate(completions) for _ in c]
    cols = [j for c in completions for j in range(len(c))]
    return hidden[_index(rows, device), _index(cols, device)]


def completion_logprobs(model, prompts: list[list[int]], completions: list[list[int]], temperature: float = 1.0,
                        entropy: bool = False, entropy_grad: bool = False,
                        share_prefix: bool = True, context: PromptContext | None = None) -> CompletionLogprobs:
    """Log-probs of each completion token under ``log_softmax(logits / temperature)``.

    Entropies (``entropy=True``) are computed without gradient unless ``entropy_grad`` (an entropy
    bonus needs it). Differentiable under grad; with a `context` (`prompt_context` of these prompts), only
    through each prompt's last token and the completions, the rest of each prompt read from the context.
    """
    decoder, head = _decoder_and_head(model)
    device = next(model.parameters()).device
    if context is not None:
        states = _context_states(decoder, context, prompts, completions, device)
        return _scored_positions(prompts, completions, temperature, device, head(states), entropy, entropy_grad)
    if not share_prefix:
        states = _plain_states(decoder, prompts, completions, device)
        return _scored_positions(prompts, completions, temperature, device, head(states), entropy, entropy_grad)
    # Rows repeating a (prompt, completion) pair (one information state, the same answer) run once.
    distinct: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
    of_row = [distinct.setdefault((tuple(p), tuple(c)), len(distinct)) for p, c in zip(prompts, completions)]
    prompts_u, completions_u = [list(p) for p, _ in distinct], [list(c) for _, c in distinct]
    states = _shared_states(decoder, prompts_u, completions_u, device)
    scored = _scored_positions(prompts_u, completions_u, temperature, device, head(states), entropy, entropy_grad)
    if len(distinct) == len(prompts):
        return scored
    rows = _index(of_row, device)
    entropy_rows = None if scored.entropy is None else scored.entropy.index_select(0, rows)
    return CompletionLogprobs(scored.logprobs.index_select(0, rows), scored.mask.index_select(0, rows), entropy_rows)


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
    return answer_totals(scored, [len(c) for c in answers])


def answer_totals(scored: CompletionLogprobs, counts: list[int]) -> list[torch.Tensor]:
    """Rows of candidate answers, ``counts[i]`` of them for prompt i, to one ``[K_i]`` tensor of summed log-probs each."""
    return list((scored.logprobs * scored.mask).sum(-1).split(counts))


def split_rows(scored: CompletionLogprobs, n: int) -> tuple[CompletionLogprobs, CompletionLogprobs]:
    """The first ``n`` rows (trimmed to their own longest completion) and the rest, as two results."""
    width = max(1, int(scored.mask[:n].sum(-1).max())) if n else 1

    def part(rows: slice, cols: slice) -> CompletionLogprobs:
        entropy = None if scored.entropy is None else scored.entropy[rows, cols]
        return CompletionLogprobs(scored.logprobs[rows, cols], scored.mask[rows, cols], entropy)

    return part(slice(0, n), slice(0, width)), part(slice(n, None), slice(None))


def sequence_logprobs(model, prompt_ids_list: list[list[int]], completion_ids_list: list[list[int]],
                      temperature: float = 1.0, share_prefix: bool = True,
                      context: PromptContext | None = None) -> list[torch.Tensor]:
    """Per-token log-probs of each completion, one 1-D tensor per row (differentiable under grad)."""
    if not prompt_ids_list:
        return []
    scored = completion_logprobs(model, prompt_ids_list, completion_ids_list, temperature, share_prefix=share_prefix,
                                 context=context)
    return [scored.logprobs[i, : len(c)] for i, c in enumerate(completion_ids_list)]
