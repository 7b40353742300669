"""A step's matches in shards: the unit of work both runners play, so where a shard runs does not
change what is played.

LM sampling draws from torch's global RNG, so a match's tokens depend on every generate call
made before it and on how turns were batched together. Shard k of a step therefore starts from
its own seeds (torch's RNG and the fixed players', `SelfPlay.start_shard`), plays match groups
k, k + S, k + 2S, ... (S = `rollout.shards`, a group's matches stay together), with
`concurrency / S` matches at once, until its share of `turns_per_step` is recorded. A shard's
matches are then a function of (weights, step, curriculum and pool state, shard) alone: the local
runner plays shards one after another, a Ray worker plays the same shard the same way.
"""

from __future__ import annotations

import math
from typing import Any

from sparring.errors import SparringError
from sparring.players.rollout import PlayedMatch, Rollout


def shard_turns(turns_per_step: int, shards: int, shard: int) -> int:
    """Shard `shard`'s share of the step's turns: equal parts, the first ones one larger."""
    return turns_per_step // shards + (shard < turns_per_step % shards)


def shard_concurrency(concurrency: int, shards: int) -> int:
    """Matches a shard plays at once: the step's concurrency split across shards (at least 1)."""
    return max(1, math.ceil(concurrency / shards))


def match_index(shards: int, group_size: int, shard: int, j: int) -> int:
    """The step-wide index (as `SelfPlay.spec` takes it) of shard `shard`'s j-th match."""
    group = shard + shards * (j // group_size)
    return group * group_size + j % group_size


def play_shard(seats: Any, shard: int) -> list[PlayedMatch]:
    """Play one shard of a step to its end; `seats` is the step's `SelfPlay`. Matches in finishing order, less
    those abandoned (a served opponent's transport failed): they have no outcome to learn from. As many abandoned
    as the shard plays at once mean the served player is down, not flaky, and what is left would be only the
    matches it never had to answer: a one-line error stops the run (``--resume`` continues from its last checkpoint)."""
    r = seats.cfg.rollout
    seats.start_shard(shard)
    concurrency = shard_concurrency(r.concurrency, r.shards)
    spec = lambda j: seats.spec(match_index(r.shards, r.group_size, shard, j))  # noqa: E731
    kept, abandoned = [], 0
    for pm in Rollout(concurrency).play(spec, num_turns=shard_turns(r.turns_per_step, r.shards, shard),
                                        counts=seats.counts):
        if pm.match.abandoned is None:
            kept.append(pm)
            continue
        abandoned += 1
        if abandoned >= concurrency:
            raise SparringError(f"{abandoned} matches of step {seats.step} were abandoned "
                                f"({pm.match.abandoned['reason']}): a served player stopped answering")
    return kept
