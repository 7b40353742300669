"""Runners: where a step's matches are played (`runner: local | ray`).

The trainer hands a runner the step's `SelfPlay` with `submit` and later asks the returned handle
for its `result()`: the played matches, in shard order, each shard's in finishing order. The local
runner plays the shards at once, in this process, with the live policy and pool. The Ray runner
(`sparring.distributed`, chosen by the trainer's `make_runner`) sends them to rollout workers; with
`ahead` true (ray.mode=async) the trainer submits step t + 1 before it trains on step t.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sparring.players.rollout import PlayedMatch
from sparring.training.shards import play_shard


@dataclass
class Rollouts:
    """One step's played matches and how they were made."""

    played: list[PlayedMatch]
    tokens: int  # LM tokens generated (policy and snapshots)
    seconds: float  # time playing the shards on the critical path (the slowest worker under ray)
    generation: float  # of which inside generate calls
    staleness: int  # learner updates between the weights that played these matches and the weights trained on them
    metrics: dict[str, float] = field(default_factory=dict)  # runner-specific numbers, logged as they are


class Pending(Protocol):
    def result(self) -> Rollouts: ...

    def state_dict(self) -> dict[str, Any] | None:
        """What a checkpoint needs to replay this step's rollouts exactly if the run stops before `result`."""


@dataclass
class Done:
    """A step already played."""

    rollouts: Rollouts

    def result(self) -> Rollouts:
        return self.rollouts

    def state_dict(self) -> None:
        return None


class LocalRunner:
    """Plays a step's shards one after another in the trainer process."""

    ahead = False

    def submit(self, seats: Any, trained: int) -> Done:
        """Play the step of `seats` now; `trained` = learner updates made so far (the weights' age)."""
        policy, pool = seats.policy, seats.pool
        tokens = policy.tokens_generated + pool.tokens_generated
        generation = policy.generation_seconds + pool.generation_seconds
        started = time.perf_counter()
        played = [pm for shard in range(seats.cfg.rollout.shards) for pm in play_shard(seats, shard)]
        seconds = time.perf_counter() - started
        tokens = policy.tokens_generated + pool.tokens_generated - tokens
        generation = policy.generation_seconds + pool.generation_seconds - generation
        return Done(Rollouts(played, tokens, seconds, generation, staleness=seats.step - 1 - trained))

    def resume(self, state: dict[str, Any] | None) -> Pending | None:
        """The step a checkpoint left in flight (never any: local steps finish before the checkpoint)."""
        return None

    def close(self) -> None:
        pass

