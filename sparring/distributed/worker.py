"""A rollout worker: one Ray actor holding a copy of the policy model, the game engines and the
pool's fixed players; it plays whole shards of a step (`sparring.training.shards`).

Each job carries the learner's weights (loaded once per version), and the curriculum's and the
pool's state (snapshot adapters included), so the worker seats exactly the matches the trainer
would; a restarted worker rebuilds itself in `__init__` and the retried shard replays exactly.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any

import torch

from sparring.config import Config
from sparring.distributed.transport import MatchRecord, pack
from sparring.distributed.weights import load_policy_weights
from sparring.games import make_game
from sparring.players.lm import LMPlayer
from sparring.training.curriculum import Curriculum, game_arms
from sparring.training.policy import build_policy
from sparring.training.pool import OpponentPool
from sparring.training.shards import play_shard
from sparring.training.selfplay import SelfPlay, fixed_opponent, lm_options, player_options


@dataclass
class RolloutJob:
    """What every worker needs to play one step's shards."""

    step: int
    trained: int  # learner updates behind `weights` (their version)
    weights: dict[str, torch.Tensor]
    curriculum: dict[str, Any]
    pool: dict[str, Any]


@dataclass
class ShardResult:
    shard: int
    matches: list[MatchRecord]
    tokens: int
    seconds: float
    generation: float  # of `seconds`, inside generate calls
    pid: int  # a new pid for the same worker = Ray restarted it


def build_worker_player(cfg: Config, model: Any, tokenizer: Any) -> LMPlayer:
    """The player a worker generates the policy's turns with (the one place a generation backend plugs in)."""
    return LMPlayer(model, tokenizer, name="policy", **lm_options(cfg))


class RolloutWorker:
    """The Ray actor's class (`ray.remote` is applied by the runner, with the configured resources)."""

    def __init__(self, cfg: Config, threads: int, device: str = "cpu"):
        torch.set_num_threads(threads)
        self.cfg = cfg
        self.games = {name: make_game(name, cfg) for name in cfg.games.names}
        # The worker's own device (Ray gives a GPU worker its GPU as "cuda"), not the learner's model.device.
        model, tokenizer = build_policy(replace(cfg.model, device=device))
        self.policy = build_worker_player(cfg, model, tokenizer)
        self.fixed = fixed_opponent(cfg)
        self.pool = OpponentPool.from_config(cfg.pool, seed=cfg.trainer.seed, lora=cfg.model.lora,
                                             lm_options=player_options(cfg))
        self.pool.bind(self.policy)
        self.curriculum = Curriculum.from_config(cfg.curriculum, game_arms(self.games.values()))
        self.version: int | None = None

    def ready(self) -> dict[str, Any]:
        """Who this worker is: its pid, the sparring it imported, its torch threads."""
        import sparring

        return {"pid": os.getpid(), "sparring": sparring.__file__, "threads": torch.get_num_threads()}

    def play(self, job: RolloutJob, shard: int) -> ShardResult:
        if job.trained != self.version:
            load_policy_weights(self.policy.model, job.weights)
            self.policy.sync()  # into the generation engine (a no-op for HF, a weight reload for vLLM)
            self.version = job.trained
        self.pool.load_state_dict(job.pool)
        self.curriculum.load_state_dict(job.curriculum)
        seats = SelfPlay(self.cfg, self.policy, self.pool, self.curriculum, self.games, job.step, self.fixed)
        tokens = self.policy.tokens_generated + self.pool.tokens_generated
        generation = self.policy.generation_seconds + self.pool.generation_seconds
        started = time.perf_counter()
        played = play_shard(seats, shard)
        seconds = time.perf_counter() - started
        tokens = self.policy.tokens_generated + self.pool.tokens_generated - tokens
        generation = self.policy.generation_seconds + self.pool.generation_seconds - generation
        return ShardResult(shard, [pack(pm) for pm in played], tokens, seconds, generation, os.getpid())
