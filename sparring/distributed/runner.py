"""The Ray runner: M rollout workers (Ray actors) play a step's shards; the trainer keeps the learner.

Each step the learner's weights (LoRA adapter state, or the full state dict) go into Ray's object
store once, inside the step's job, and every worker reads them from there. Shard k goes to worker
k mod M; a worker plays its shards one after another. A worker that dies is restarted by Ray
(`ray.max_restarts`) and its unfinished shards are retried on it; a shard starts from its own
seeds, so the retry plays exactly the matches the dead worker would have.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import asdict
from typing import Any

from sparring.config import Config
from sparring.distributed.cluster import connect, import_ray
from sparring.distributed.transport import unpack
from sparring.distributed.weights import policy_weights
from sparring.distributed.worker import RolloutJob, RolloutWorker, ShardResult
from sparring.errors import SparringError
from sparring.games.base import LanguageGame
from sparring.training.runner import Rollouts
from sparring.training.selfplay import match_rules


class RayRunner:
    """Plays steps on Ray actors; `ahead` (ray.mode=async) lets the trainer submit the next step early.

    One runner is live per process: a new one first closes a previous run's, which a failed run leaves
    behind (its traceback keeps it alive) with its workers still holding their CPUs.
    """

    _live: weakref.ref | None = None

    def __init__(self, cfg: Config, games: dict[str, LanguageGame], worker_class: type = RolloutWorker):
        stateful = [name for name, game in games.items() if type(game).state_dict is not LanguageGame.state_dict]
        if stateful:
            raise SparringError(f"runner=ray cannot play {', '.join(stateful)} yet: its matches change the game's "
                                "state (a task buffer) during a step, which workers do not share; use runner=local")
        previous = RayRunner._live() if RayRunner._live else None
        if previous is not None:
            previous.close()
        self.workers: list[Any] = []
        self.started_ray = False
        RayRunner._live = weakref.ref(self)
        self.cfg = cfg
        self.games = games
        self.rules = match_rules(cfg)
        self.ahead = cfg.ray.mode == "async"
        self.started_ray = connect(cfg.ray)
        ray = import_ray()
        r = cfg.ray
        actor = ray.remote(worker_class).options(
            num_cpus=r.cpus_per_worker, num_gpus=r.gpus_per_worker,
            max_restarts=r.max_restarts, max_task_retries=r.max_restarts)
        device = "cuda" if r.gpus_per_worker > 0 else "cpu"
        self.workers = [actor.remote(cfg, max(1, int(r.cpus_per_worker)), device) for _ in range(r.workers)]
        self.pids = [info["pid"] for info in self._get([w.ready.remote() for w in self.workers])]
        self.restarts = 0

    def _get(self, refs: list[Any]) -> list[Any]:
        ray = import_ray()
        try:
            return ray.get(refs)
        except ray.exceptions.RayActorError as err:
            raise SparringError(f"a rollout worker failed (or died more than ray.max_restarts="
                                f"{self.cfg.ray.max_restarts} times): {str(err).strip().splitlines()[0]}") from None

    def submit(self, seats: Any, trained: int) -> RayPending:
        """Send the step of `seats` to the workers with the policy's current weights (`trained` updates old)."""
        job = RolloutJob(seats.step, trained, policy_weights(seats.policy.model), seats.curriculum.state_dict(),
                         seats.pool.state_dict())
        return self._launch(job)

    def _launch(self, job: RolloutJob) -> RayPending:
        ref = import_ray().put(job)
        shards = range(self.cfg.rollout.shards)
        futures = [self.workers[k % len(self.workers)].play.remote(ref, k) for k in shards]
        return RayPending(self, job, futures)

    def resume(self, state: dict[str, Any] | None) -> RayPending | None:
        """Relaunch the step a checkpoint left in flight (async mode), exactly as it was first sent."""
        return self._launch(RolloutJob(**state)) if state else None

    def collect(self, job: RolloutJob, futures: list[Any]) -> Rollouts:
        results: list[ShardResult] = sorted(self._get(futures), key=lambda r: r.shard)
        busy: dict[int, float] = defaultdict(float)
        generating: dict[int, float] = defaultdict(float)
        for r in results:
            worker = r.shard % len(self.workers)
            busy[worker] += r.seconds
            generating[worker] += r.generation
            if r.pid != self.pids[worker]:
                self.restarts += 1
                self.pids[worker] = r.pid
        played = [unpack(record, self.games, self.rules) for r in results for record in r.matches]
        slowest = max(busy, key=busy.get)
        return Rollouts(played, sum(r.tokens for r in results), busy[slowest], generating[slowest],
                        staleness=job.step - 1 - job.trained, metrics={"ray/worker_restarts": float(self.restarts)})

    def close(self) -> None:
        ray = import_ray()
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []
        if self.started_ray and ray.is_initialized():
            ray.shutdown()
        self.started_ray = False


class RayPending:
    """A step in flight on the workers."""

    def __init__(self, runner: RayRunner, job: RolloutJob, futures: list[Any]):
        self.runner, self.job, self.futures = runner, job, futures

    def result(self) -> Rollouts:
        return self.runner.collect(self.job, self.futures)

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.job)
