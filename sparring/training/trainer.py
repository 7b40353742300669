"""The self-play trainer, top to bottom:

    curriculum picks (game, role); the opponent pool (or a fixed opponent) fills the other seats
      -> rollout: matches played in batches until enough policy turns are recorded
      -> the algorithm (`training.algorithms`) turns them into learner samples (turn samples with
         advantages, exact action values, ranked answers...)
      -> learner: optimiser updates toward the algorithm's objective (LoRA or full)
      -> the parts (`training.parts`: pool, curriculum, turn phases, average, the algorithm) follow the weights
      -> log, transcripts, evaluation, checkpoint

Randomness is derived, never drifting, from named streams (`sparring.seeding`): match group g
of step s draws its chance events, its (game, role) arm and its opponent from three independent
streams indexed by (s, g); each shard k of the step (`training.shards`) re-seeds the fixed players
and torch's RNG (LM sampling) from streams indexed by (s, k). So a deal never depends on which arm
or opponent was drawn, a resumed run replays exactly what the uninterrupted run would have done,
and a shard plays the same matches on a Ray worker as in this process (`training.runner`).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import torch

from sparring.checkpoint import latest_checkpoint, load_trainer_state, save_checkpoint, set_rng_states
from sparring.config import Config, save_config
from sparring.evaluation.arena import OUTCOMES, SeatTally
from sparring.extras import check_extras
from sparring.errors import SparringError
from sparring.evaluation.evaluate import evaluate, print_eval
from sparring.evaluation.exploitability import EXPLOITABILITY_GAMES, exploitability_metrics, likelihood_reads
from sparring.evaluation.preference_gap import preference_gap
from sparring.evaluation.stats import outcome
from sparring.evaluation.transfer import transfer
from sparring.games import LanguageGame, make_game
from sparring.games.preference import PreferenceGame
from sparring.players.fixed import check_fair
from sparring.players.lm import LMPlayer
from sparring.players.rollout import PlayedMatch
from sparring.progress import progress_bar
from sparring.training.adapters import AVERAGE_ADAPTER, remove_slots
from sparring.training.algorithms import Context, WarmStart, algorithm_class
from sparring.training.curriculum import Curriculum, game_arms
from sparring.training.learner import Learner
from sparring.training.metrics import MetricsLog, Stopwatch
from sparring.training.parts import AveragePolicy, GameStates, Parts
from sparring.training.phases import TurnPhases
from sparring.training.policy import build_policy
from sparring.training.pool import OpponentPool
from sparring.training.role_adapters import RoleLearners, run_roles
from sparring.training.runner import LocalRunner
from sparring.training.selfplay import SelfPlay, fixed_opponent, lm_options, match_rules, player_options


def make_runner(cfg: Config, games: dict[str, LanguageGame]) -> Any:
    """The configured runner; the Ray one is imported here so a local run never needs ray."""
    if cfg.runner == "local":
        return LocalRunner()
    from sparring.distributed import RayRunner

    return RayRunner(cfg, games)


def rollout_metrics(played: list[PlayedMatch]) -> dict[str, float]:
    """Win/draw/loss/invalid rate and mean return per (game, role) of the learning seats."""
    tallies: dict[str, SeatTally] = defaultdict(SeatTally)
    for pm in played:
        returns = pm.match.returns()
        invalid = pm.match.invalid_seats()
        for seat in pm.spec.meta["learning_seats"]:
            tallies[f"{pm.spec.game.name}/{pm.match.role(seat)}"].add(outcome(returns, seat, pm.match.teams()),
                                                                       seat in invalid, returns[seat])
    metrics: dict[str, float] = {}
    for key, tally in tallies.items():
        for name in OUTCOMES:
            metrics[f"{name}_rate/{key}"] = tally.counts[name] / tally.matches
        metrics[f"mean_return/{key}"] = sum(tally.returns) / tally.matches
    return metrics


def game_metrics(games: dict[str, LanguageGame], played: list[PlayedMatch]) -> dict[str, float]:
    """What each game reports about its own matches of this step (task games: validity, accuracy...)."""
    metrics: dict[str, float] = {}
    for game in games.values():
        metrics.update(game.step_metrics([pm.match for pm in played if pm.spec.game is game]))
    return metrics


def check_games(cfg: Config, games: dict[str, LanguageGame]) -> None:
    """Settings a game cannot support, as one-line errors before any model is loaded: the algorithm's, then
    the evaluations' and the fixed players'."""
    algorithm_class(cfg).check(cfg, games)
    WarmStart.check(cfg, games)
    if cfg.preference.gap_every and PreferenceGame.name not in games:
        raise SparringError(f"preference.gap_every measures the {PreferenceGame.name} game: add it to games.names")
    if cfg.trainer.exploitability_every and not any(name in EXPLOITABILITY_GAMES for name in games):
        raise SparringError(f"trainer.exploitability_every needs one of {', '.join(EXPLOITABILITY_GAMES)} "
                            f"in games.names (got {', '.join(games)})")
    for spec in [cfg.rollout.opponent, *cfg.pool.fixed]:
        for game in games.values():
            check_fair(spec, game)


def build_learner(cfg: Config, model: Any, roles: list[str]) -> Learner | RoleLearners:
    """The run's learner: one, or one per role adapter when `roles` are given. Under legal-move play it
    differentiates the policy that is played (each legal answer's probability renormalised over them)."""
    learner_class = partial(RoleLearners, roles=roles) if roles else Learner
    return learner_class(model, cfg.algo, cfg.trainer, temperature=cfg.rollout.temperature,
                         autocast_bf16=cfg.model.dtype == "bfloat16", legal_moves=cfg.rollout.moves == "legal")


def build_parts(cfg: Config, games: dict[str, LanguageGame], policy: LMPlayer) -> Parts:
    """The run's stateful parts, each from its config section (None when off); the algorithm last, as it reads
    the curriculum and the turn phases (behind a warm start when ``warm_start.steps`` is set)."""
    pool = OpponentPool.from_config(cfg.pool, seed=cfg.trainer.seed, lora=cfg.model.lora, lm_options=player_options(cfg))
    pool.bind(policy)
    parts = Parts(pool=pool, curriculum=Curriculum.from_config(cfg.curriculum, game_arms(games.values())),
                  games=GameStates(games), turn_phases=TurnPhases.from_config(cfg.curriculum),
                  average=AveragePolicy.from_config(cfg, policy.model))
    context = Context(cfg, games, policy, parts["curriculum"], parts["turn_phases"])
    parts["algorithm"] = WarmStart.around(algorithm_class(cfg)(context), context)
    return parts


def train(cfg: Config, resume: bool = False) -> Path:
    """Run (or resume) self-play training; return the run directory."""
    run_dir = Path(cfg.trainer.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_extras(cfg)
    games = {name: make_game(name, cfg) for name in cfg.games.names}
    check_games(cfg, games)
    torch.manual_seed(cfg.trainer.seed)
    checkpoint = latest_checkpoint(run_dir) if resume else None
    roles = run_roles(games.values()) if cfg.model.adapters_per_role else []
    model, tokenizer = build_policy(cfg.model, checkpoint / "model" if checkpoint else None, roles)
    learner = build_learner(cfg, model, roles)
    policy = LMPlayer(model, tokenizer, name="policy", role_adapters=bool(roles), **lm_options(cfg))
    fixed = fixed_opponent(cfg)
    parts = build_parts(cfg, games, policy)
    pool, curriculum, algorithm = parts["pool"], parts["curriculum"], parts["algorithm"]
    log = MetricsLog(run_dir)
    start, best, state = 0, math.inf, {}
    if checkpoint:
        state = load_trainer_state(checkpoint)
        learner.load_state_dict(state["learner"])
        parts.load_state_dict(state)
        start, best = state["step"], state.get("best_exploitability", math.inf)
        if start >= cfg.trainer.steps:
            raise SparringError(f"{run_dir} has already run {start} steps (trainer.steps={cfg.trainer.steps}): to "
                                f"continue it, resume with a larger budget, e.g. --set trainer.steps={start + 10}")
        set_rng_states(state["rng"])
    else:
        save_config(cfg, run_dir / "config.yaml")
    log.truncate_after(start if checkpoint else -1)
    runner = make_runner(cfg, games)  # a Ray runner's actors end with it, also when the run fails
    pending = runner.resume(state.get("runner")) if checkpoint else None
    started = time.perf_counter()
    checkpoint_seconds = 0.0  # the save that ended the previous step, logged with this one
    with progress_bar() as bar:
        task = bar.add_task("self-play", total=cfg.trainer.steps, completed=start, stats="")
        for step in range(start + 1, cfg.trainer.steps + 1):
            step_started = time.perf_counter()
            watch = Stopwatch()
            # 1. Rollout: curriculum picks (game, role), the pool picks opponents; play until enough policy
            #    turns are recorded. A runner that plays ahead (ray, async) already has this step in flight.
            if pending is None:
                pending = runner.submit(SelfPlay(cfg, policy, pool, curriculum, games, step, fixed), trained=step - 1)
            rollouts, pending = pending.result(), None
            rollout_time = time.perf_counter() - step_started
            pool.record_matches(rollouts.played)
            # 2. The algorithm's samples (the curriculum learns from their advantages).
            batch = algorithm.samples(rollouts.played, step)
            if runner.ahead and step < cfg.trainer.steps:  # the next step plays while this one trains
                pending = runner.submit(SelfPlay(cfg, policy, pool, curriculum, games, step + 1, fixed), trained=step - 1)
            # 3. Learner: updates toward the algorithm's objective (an empty batch skips them).
            with watch("learner"):
                learned = (learner.step(batch.samples, step, objective=algorithm.objective(), context=batch.context)
                       if batch.samples
                           else {"skipped": 1.0})
            with watch("weight_sync"):
                policy.sync()
            # 4. Metrics of the step as it ran; then the parts follow the new weights.
            metrics = {
                **rollout_metrics(rollouts.played), **batch.metrics, **learned, **parts.metrics(),
                **game_metrics(games, rollouts.played),
                "matches": len(rollouts.played), "samples": len(batch.samples),
                "rollout_tokens_per_s": rollouts.tokens / rollouts.seconds,
                "rollout_turns_per_s": batch.turns / rollouts.seconds,
                "staleness": rollouts.staleness, **rollouts.metrics,
            }
            parts.after_update(model, step, metrics)
            # 5. Transcripts, evaluation, log, checkpoint.
            if cfg.trainer.transcripts_every and step % cfg.trainer.transcripts_every == 0:
                write_transcripts(run_dir / "transcripts" / f"step_{step:06d}.jsonl", rollouts.played)
            with watch("evaluation"):
                metrics.update(step_evaluation(cfg, policy, games, parts["average"], run_dir, step))
            lowest = min(metrics.get(key, math.inf) for key in ("exploitability/mean", "exploitability_average/mean"))
            improved, best = lowest < best, min(best, lowest)
            # Where the step's time went (the previous step's checkpoint save included).
            generation = min(rollouts.generation, rollout_time)  # async: only the wait is the step's
            for part, seconds in {**batch.seconds, "generation": generation, "rollout_other": rollout_time - generation,
                                  "checkpoint": checkpoint_seconds}.items():
                watch.add(part, seconds)
            step_seconds = time.perf_counter() - step_started + checkpoint_seconds
            metrics.update(watch.profile(step_seconds))
            metrics["trained_turns_per_s"] = len(batch.samples) / step_seconds
            metrics["wall_time"] = time.perf_counter() - started
            if step % cfg.trainer.log_every == 0:
                log.log(step, metrics)
            saving_started = time.perf_counter()
            trainer_state = {"step": step, "learner": learner, "parts": parts, "best_exploitability": best,
                             "runner": pending}
            if step % cfg.trainer.save_every == 0 or step == cfg.trainer.steps:
                save(run_dir, cfg.trainer.keep_checkpoints, policy, trainer_state)
            if cfg.trainer.keep_best and improved:
                save(run_dir / "best", 1, policy, trainer_state)
            checkpoint_seconds = time.perf_counter() - saving_started
            bar.update(task, completed=step, stats=progress_stats(metrics))
    runner.close()
    log.close()
    if cfg.trainer.final_eval_matches and arena_games(games):
        final_evaluation(cfg, policy, arena_games(games), run_dir)
    return run_dir


def step_evaluation(cfg: Config, policy: LMPlayer, games: dict[str, LanguageGame], average: AveragePolicy | None,
                    run_dir: Path, step: int) -> dict[str, float]:
    """The evaluations due at `step`: rates against random (written to the run), exploitability of the policy
    and of its average, the preference game's duality gap, the transfer suite; their metrics."""
    t, metrics = cfg.trainer, {}
    if t.eval_every and step % t.eval_every == 0 and arena_games(games):
        evaluate(policy, arena_games(games), opponents=["random"], matches=t.eval_matches, seed=t.seed, run_dir=run_dir,
                 step=step, concurrency=cfg.rollout.concurrency, exploitability=likelihood_reads(cfg.games.template))
    if t.exploitability_every and step % t.exploitability_every == 0:
        metrics.update(exploitability_metrics(policy, list(games), match_rules(cfg)))
        if average:
            with average.active(policy.model):
                averaged = exploitability_metrics(policy, list(games), match_rules(cfg))
            metrics.update({key.replace("/", "_average/", 1): v for key, v in averaged.items()})
    if cfg.preference.gap_every and step % cfg.preference.gap_every == 0:
        metrics.update(preference_gap(policy, games[PreferenceGame.name], cfg.preference.gap_items, match_rules(cfg)))
    if t.transfer_every and step % t.transfer_every == 0:
        transfer(policy, cfg, items=t.transfer_items, matches=t.transfer_items, seed=t.seed,
                 concurrency=cfg.rollout.concurrency, run_dir=run_dir, step=step)
    return metrics


def save(root: Path, keep: int, policy: LMPlayer, state: dict[str, Any]) -> None:
    """A checkpoint of the policy's model and the trainer state: the step's, the learner's and the parts'."""
    model, parts = policy.model, state["parts"]
    remove_slots(model)
    average = parts["average"]
    save_checkpoint(root, state["step"], model, policy.tokenizer,
                    {"step": state["step"], "best_exploitability": state["best_exploitability"],
                     "learner": state["learner"].state_dict(), **parts.state_dict(),
                     "runner": state["runner"].state_dict() if state["runner"] else None},
                    keep=keep, adapters={AVERAGE_ADAPTER: average.weights} if average else None)


def arena_games(games: dict[str, LanguageGame]) -> list[str]:
    """The games played against opponents (tasks, with one seat, are measured by the transfer suite)."""
    return [name for name, game in games.items() if game.num_seats > 1]


def progress_stats(metrics: dict[str, float]) -> str:
    def mean(prefix: str) -> float:
        values = [v for k, v in metrics.items() if k.startswith(prefix)]
        return sum(values) / max(1, len(values))
    return (f"win {mean('win_rate/'):.2f} | invalid {mean('invalid_rate/'):.2f} | "
            f"{metrics['trained_turns_per_s']:.2f} trained turns/s | {metrics['time/step']:.1f} s/step")


def final_evaluation(cfg: Config, policy: LMPlayer, games: list[str], run_dir: Path) -> None:
    """The trained policy against `random` and against the untrained model, printed and saved."""
    rows = evaluate(policy, games, opponents=["random"], initial=f"lm:{cfg.model.name}",
                    matches=cfg.trainer.final_eval_matches, seed=cfg.trainer.seed + 1, run_dir=run_dir,
                    step=cfg.trainer.steps, lm_options=lm_options(cfg), concurrency=cfg.rollout.concurrency,
                    exploitability=likelihood_reads(cfg.games.template), progress=True)
    print_eval(rows)


def write_transcripts(path: Path, played: list[PlayedMatch]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for pm in played:
            out.write(json.dumps(pm.record()) + "\n")
