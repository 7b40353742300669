"""The self-play trainer, top to bottom:

    curriculum picks (game, role); the opponent pool (or a fixed opponent) fills the other seats
      -> rollout: matches played in batches until enough policy turns are recorded
      -> turn samples: one trajectory per learning seat, keyed by (game, role)
      -> advantages (rae / mars / grpo), and the curriculum's arm values
      -> learner (PPO or REINFORCE, LoRA or full)
      -> log, transcripts, evaluation, pool snapshot, checkpoint

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
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from sparring.checkpoint import latest_checkpoint, load_trainer_state, save_checkpoint, set_rng_states
from sparring.config import PREFERENCE_LOSSES, Config, save_config
from sparring.evaluation.arena import OUTCOMES, SeatTally
from sparring.extras import check_extras
from sparring.errors import SparringError
from sparring.evaluation.evaluate import evaluate, print_eval
from sparring.evaluation.exploitability import EXPLOITABILITY_GAMES, exploitability_metrics, likelihood_reads
from sparring.evaluation.preference_gap import preference_gap
from sparring.evaluation.stats import outcome
from sparring.evaluation.transfer import transfer
from sparring.games import LanguageGame, make_game
from sparring.games.base import Turn
from sparring.games.preference import PreferenceGame
from sparring.games.templates import answer_ids
from sparring.players.fixed import check_fair
from sparring.players.lm import LMPlayer
from sparring.players.rollout import PlayedMatch
from sparring.progress import progress_bar
from sparring.training.advantages import RAEBaselines, TurnSample, estimate_advantages
from sparring.training.curriculum import Curriculum, arm_rewards, game_arms
from sparring.training.exact import ExactAdvantages
from sparring.training.learner import ITERATE_ADAPTER, MAGNET_ADAPTER, Learner, LearnerSample
from sparring.training.metrics import MetricsLog, Stopwatch
from sparring.training.policy import build_policy
from sparring.training.adapters import AdapterAverage, Iterate, opponent_adapter, remove_opponent_adapter
from sparring.training.pool import OpponentPool
from sparring.training.phases import TurnPhases
from sparring.training.preference import preference_samples
from sparring.training.regularisers import MOVING_MAGNETS, MovingMagnet
from sparring.training.role_adapters import RoleLearners, run_roles
from sparring.training.runner import LocalRunner
from sparring.training.selfplay import SelfPlay, fixed_opponent, lm_options, match_rules, player_options

AVERAGE_ADAPTER = "average"  # the peft adapter slot the average policy is scored in, and its checkpoint folder


def make_runner(cfg: Config, games: dict[str, LanguageGame]) -> Any:
    """The configured runner; the Ray one is imported here so a local run never needs ray."""
    if cfg.runner == "local":
        return LocalRunner()
    from sparring.distributed import RayRunner

    return RayRunner(cfg, games)


def turn_samples(played: list[PlayedMatch], answers: Callable[[str, str], list[int]] | None = None,
                 keep: Callable[[Turn], bool] | None = None, exact: ExactAdvantages | None = None
                 ) -> tuple[list[TurnSample], dict[tuple, LearnerSample]]:
    """One trajectory per learning seat (or per scored part of it, `Match.scored_turns`: a task
    game's solver attempts): the advantage view and the token view of every LM turn.

    With ``answers(answer_format, move, legal_moves) -> token ids`` each learner sample also carries the tokens
    of every legal move's answer at its turn (what the magnet KL compares). ``keep(turn)`` false
    leaves a turn out (turn phases: only the current phase's turns train). With `exact`, each sample
    carries its exact advantage, and every legal answer's (``answer_advantages``).
    """
    samples, tokens = [], {}
    ids: dict[tuple[int, int, int], int] = {}  # (match index, seat, trajectory index) -> match_id of its samples
    for index, pm in enumerate(played):
        for seat in pm.spec.meta["learning_seats"]:
            for j, (scored, ret) in enumerate(pm.match.scored_turns(seat)):
                role = pm.match.trajectory_role(seat, scored)
                match_id = ids.setdefault((index, seat, j), len(ids))  # seats may share a role (spy: civilians)
                values = exact.seat_advantages(pm.match, seat) if exact else [{}] * len(scored)
                if len(values) != len(scored):
                    raise SparringError(f"algo.advantage=exact: seat {seat} of a {pm.spec.game.name} match made "
                                        f"{len(values)} decisions but played {len(scored)} turns")
                turns = [(t, v) for t, v in zip(scored, values) if "completion_ids" in t.extra and (keep is None or keep(t))]
                for k, (turn, value) in enumerate(turns):
                    last = k == len(turns) - 1
                    samples.append(TurnSample(
                        game=pm.spec.game.name, role=role, match_id=match_id, turn_index=k,
                        num_tokens=len(turn.extra["completion_ids"]), reward=ret if last else 0.0,
                        seat_return=ret, group=str(pm.spec.meta["group"]), task=pm.match.task,
                        advantage=value.get(turn.move, 0.0)))
                    legal = []
                    if answers:
                        moves = turn.extra["legal_moves"]
                        legal = [answers(pm.match.rules.answer_format, m, moves) for m in moves]
                    tokens[(match_id, role, k)] = LearnerSample(
                        turn.extra["prompt_ids"], turn.extra["completion_ids"], turn.extra["logprobs"], 0.0, legal,
                        answer_advantages=[value[m] for m in turn.extra["legal_moves"]] if value else [])
    return samples, tokens


def score_samples(cfg: Config, samples: list[TurnSample], baselines: RAEBaselines,
                  curriculum: Curriculum) -> list[TurnSample]:
    """Advantages for the turn samples; the curriculum learns from all of them, then zeros are dropped if asked.

    A regulariser (magnet KL, entropy bonus) acts on every turn, so under one nothing is dropped: a policy
    that has collapsed to a pure strategy wins and loses the same in every match (all advantages 0), and
    dropping those turns would leave nothing to pull it back toward the magnet.
    """
    options = {"rae": {"baseline": cfg.algo.rae_baseline}, "grpo": {"scale": cfg.algo.grpo_scale},
               "mars": {}, "trr": {}, "exact": {}}[cfg.algo.advantage]
    scored = estimate_advantages(cfg.algo.advantage, samples, baselines, **options)
    # Arms are seats; a game that deals roles per match (spy) keys samples by role, which maps to no
    # one seat: its arms keep their values (SEC then draws them uniformly).
    curriculum.update({arm: r for arm, r in arm_rewards(scored).items() if arm in curriculum.values})
    regularised = cfg.algo.magnet != "none" or cfg.algo.entropy_coef > 0
    return [s for s in scored if s.advantage != 0.0] if cfg.algo.drop_zero_advantage and not regularised else scored


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


def advantage_metrics(samples: list[TurnSample], baselines: RAEBaselines) -> dict[str, float]:
    by_role: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        by_role[f"advantage/{s.game}/{s.role}"].append(s.advantage)
    metrics = {key: sum(v) / len(v) for key, v in by_role.items()}
    metrics.update({f"baseline/{game}/{role}": b for (game, role), b in baselines.values.items()})
    return metrics


def check_games(cfg: Config, games: dict[str, LanguageGame]) -> None:
    """Settings a game cannot support, as one-line errors before any model is loaded."""
    open_moves = [name for name, game in games.items() if game.open_moves]
    if cfg.algo.magnet != "none" and open_moves:
        raise SparringError(f"algo.magnet compares the legal answers of each turn, but {', '.join(open_moves)} "
                            "has open-ended moves (a pattern, not a list): train it without a magnet")
    if cfg.algo.loss in PREFERENCE_LOSSES and any(name != PreferenceGame.name for name in games):
        raise SparringError(f"algo.loss={cfg.algo.loss} ranks the answers of one prompt: train it on games.names "
                            f"[{PreferenceGame.name}] alone (got {', '.join(games)})")
    if PreferenceGame.name in games and cfg.preference.opponent == "data" and cfg.algo.loss not in PREFERENCE_LOSSES:
        raise SparringError("preference.opponent=data (SPIN) prefers the data's answer to every sample: it needs a "
                            f"preference loss such as algo.loss=dpo (got {cfg.algo.loss})")
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


def train(cfg: Config, resume: bool = False) -> Path:
    """Run (or resume) self-play training; return the run directory."""
    run_dir = Path(cfg.trainer.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_extras(cfg)
    games = {name: make_game(name, cfg) for name in cfg.games.names}
    check_games(cfg, games)
    torch.manual_seed(cfg.trainer.seed)
    checkpoint = latest_checkpoint(run_dir) if resume else None
    per_role = cfg.model.adapters_per_role
    roles = run_roles(games.values()) if per_role else []
    model, tokenizer = build_policy(cfg.model, checkpoint / "model" if checkpoint else None, roles)
    learner = build_learner(cfg, model, roles)
    policy = LMPlayer(model, tokenizer, name="policy", role_adapters=per_role, **lm_options(cfg))
    fixed = fixed_opponent(cfg)
    baselines = RAEBaselines(decay=cfg.algo.rae_decay)
    pool = OpponentPool.from_config(cfg.pool, seed=cfg.trainer.seed, lora=cfg.model.lora, lm_options=player_options(cfg))
    pool.bind(policy)
    curriculum = Curriculum.from_config(cfg.curriculum, game_arms(games.values()))
    magnet = MovingMagnet(cfg.algo.magnet, model, cfg.algo.magnet_ema_decay, cfg.algo.magnet_lag) \
        if cfg.algo.magnet in MOVING_MAGNETS else None
    average = AdapterAverage(model, cfg.trainer.average_decay, "trainer.average_decay") \
        if cfg.trainer.average_decay else None
    iterate = Iterate(model, cfg.algo.iterate_every) if cfg.algo.loss in PREFERENCE_LOSSES else None
    answers = partial(answer_ids, tokenizer, cfg.games.template) \
        if cfg.algo.reads_legal_answers or cfg.rollout.moves == "legal" else None
    phases = TurnPhases.from_config(cfg.curriculum)
    log = MetricsLog(run_dir)
    start, best = 0, math.inf
    if checkpoint:
        state = load_trainer_state(checkpoint)
        learner.load_state_dict(state["learner"])
        baselines = RAEBaselines.from_dict(state["baselines"])
        pool.load_state_dict(state["pool"])
        curriculum.load_state_dict(state["curriculum"])
        for name, game_state in state.get("games", {}).items():
            games[name].load_state_dict(game_state)
        if magnet:
            magnet.load_state_dict(state["magnet"])
        if average:
            average.weights = state["average"]
        if iterate:
            iterate.load_state_dict(state["iterate"])
        if phases:
            phases.load_state_dict(state["turn_phases"])
        start, best = state["step"], state.get("best_exploitability", math.inf)
        set_rng_states(state["rng"])
        log.truncate_after(start)
    else:
        save_config(cfg, run_dir / "config.yaml")
        log.truncate_after(-1)
    runner = make_runner(cfg, games)  # a Ray runner's actors end with it, also when the run fails
    pending = runner.resume(state.get("runner")) if checkpoint else None
    started = time.perf_counter()
    checkpoint_seconds = 0.0  # the save that ended the previous step, logged with this one
    with progress_bar() as bar:
        task = bar.add_task("self-play", total=cfg.trainer.steps, completed=start, stats="")
        for step in range(start + 1, cfg.trainer.steps + 1):
            step_started = time.perf_counter()
            watch = Stopwatch()
            # 1. Rollout: curriculum picks (game, role), the pool picks opponents; play until
            #    enough policy turns are recorded. A runner that plays ahead (ray, async) already
            #    has this step in flight, seated and weighted as of the previous step.
            if pending is None:
                pending = runner.submit(SelfPlay(cfg, policy, pool, curriculum, games, step, fixed), trained=step - 1)
            rollouts = pending.result()
            pending = None
            played = rollouts.played
            rollout_time = time.perf_counter() - step_started
            for pm in played:
                for seat in pm.spec.meta["learning_seats"]:
                    pool.record(pm.spec.meta["opponent"], outcome(pm.match.returns(), seat, pm.match.teams()))

            # 2. Advantages: one trajectory per learning seat, baselines per (game, role).
            #    The curriculum's arm rewards see every sample, zero advantages included.
            #    Exact advantages instead read the game tree under the policy that played.
            exact = None
            if cfg.algo.advantage == "exact":
                with watch("action_values"):
                    exact = ExactAdvantages(policy, list(games), match_rules(cfg), keep=cfg.algo.exact_states == "all")
            samples, tokens = turn_samples(played, answers, phases.keeps if phases else None, exact)
            with_adv = score_samples(cfg, samples, baselines, curriculum)
            batch = [replace(tokens[(s.match_id, s.role, s.turn_index)], advantage=s.advantage) for s in with_adv]
            if iterate:  # preference losses: every answer, ranked within its prompt's group
                batch = preference_samples(played, tokenizer, cfg.games.template)
            if exact and cfg.algo.exact_states == "all":  # full width: every information state, not the played ones
                batch = exact.state_samples()
            if runner.ahead and step < cfg.trainer.steps:  # the next step plays while this one trains
                pending = runner.submit(SelfPlay(cfg, policy, pool, curriculum, games, step + 1, fixed), trained=step - 1)

            # 3. Learner: PPO epochs over the batch (an empty batch skips the update), pulled
            #    toward the magnet if there is one; then the moving magnet follows the policy,
            #    and the generation engine gets the new weights.
            if magnet:
                learner.magnet_weights = magnet.weights
            if iterate:
                learner.iterate_weights = iterate.weights
            with watch("learner"):
                step_args = (batch, step, [s.role for s in with_adv]) if per_role else (batch, step)
                learned = learner.step(*step_args) if batch else {"skipped": 1.0}
                if magnet:
                    magnet.update(model)
                if average:
                    average.update(model)
                if iterate:
                    iterate.update(model, step)
            with watch("weight_sync"):
                policy.sync()
            if cfg.pool.rule != "latest" and step % cfg.pool.snapshot_every == 0:
                pool.add_snapshot(step, model)

            # 4. Log, transcripts, evaluation, checkpoint.
            generation = min(rollouts.generation, rollout_time)  # async: only the wait is the step's
            metrics = {
                **rollout_metrics(played), **advantage_metrics(with_adv, baselines), **learned,
                **pool.metrics(), **curriculum.metrics(), **game_metrics(games, played),
                **(phases.metrics() if phases else {}), **(exact.metrics() if exact else {}),
                "matches": len(played), "samples": len(batch),
                "response_length": sum(len(t.completion_ids) for t in tokens.values()) / max(1, len(tokens)),
                "rollout_tokens_per_s": rollouts.tokens / rollouts.seconds,
                "rollout_turns_per_s": len(samples) / rollouts.seconds,
                "staleness": rollouts.staleness, **rollouts.metrics,
            }
            if phases:
                phases.update(metrics)  # the next step's phase, from this step's signal
            if cfg.trainer.transcripts_every and step % cfg.trainer.transcripts_every == 0:
                write_transcripts(run_dir / "transcripts" / f"step_{step:06d}.jsonl", played)
            improved = False
            with watch("evaluation"):
                if cfg.trainer.eval_every and step % cfg.trainer.eval_every == 0 and arena_games(games):
                    evaluate(policy, arena_games(games), opponents=["random"], matches=cfg.trainer.eval_matches,
                             seed=cfg.trainer.seed, run_dir=run_dir, step=step, concurrency=cfg.rollout.concurrency,
                             exploitability=likelihood_reads(cfg.games.template))
                if cfg.trainer.exploitability_every and step % cfg.trainer.exploitability_every == 0:
                    measured = exploitability_metrics(policy, list(games), match_rules(cfg))
                    if average:
                        with opponent_adapter(model, average.weights, slot=AVERAGE_ADAPTER):
                            averaged = exploitability_metrics(policy, list(games), match_rules(cfg))
                        measured.update({key.replace("/", "_average/", 1): v for key, v in averaged.items()})
                    metrics.update(measured)
                    lowest = min(measured["exploitability/mean"], measured.get("exploitability_average/mean", math.inf))
                    improved = lowest < best
                    best = min(best, lowest)
                if cfg.preference.gap_every and step % cfg.preference.gap_every == 0:
                    metrics.update(preference_gap(policy, games[PreferenceGame.name], cfg.preference.gap_items,
                                                  match_rules(cfg)))
                if cfg.trainer.transfer_every and step % cfg.trainer.transfer_every == 0:
                    transfer(policy, cfg, items=cfg.trainer.transfer_items, matches=cfg.trainer.transfer_items,
                             seed=cfg.trainer.seed, concurrency=cfg.rollout.concurrency, run_dir=run_dir, step=step)
            # Where the step's time went (the previous step's checkpoint save included).
            watch.add("generation", generation)
            watch.add("rollout_other", rollout_time - generation)
            watch.add("checkpoint", checkpoint_seconds)
            step_seconds = time.perf_counter() - step_started + checkpoint_seconds
            metrics.update(watch.profile(step_seconds))
            metrics["trained_turns_per_s"] = len(batch) / step_seconds
            metrics["wall_time"] = time.perf_counter() - started
            if step % cfg.trainer.log_every == 0:
                log.log(step, metrics)

            def save(root: Path, keep: int) -> None:
                pool.release()
                remove_opponent_adapter(model, MAGNET_ADAPTER)
                remove_opponent_adapter(model, AVERAGE_ADAPTER)
                remove_opponent_adapter(model, ITERATE_ADAPTER)
                save_checkpoint(root, step, model, tokenizer,
                                {"step": step, "learner": learner.state_dict(), "baselines": baselines.to_dict(),
                                 "pool": pool.state_dict(), "curriculum": curriculum.state_dict(),
                                 "games": {name: game.state_dict() for name, game in games.items()},
                                 "magnet": magnet.state_dict() if magnet else None, "best_exploitability": best,
                                 "turn_phases": phases.state_dict() if phases else None,
                                 "runner": pending.state_dict() if pending else None,
                                 "average": average.weights if average else None,
                                 "iterate": iterate.state_dict() if iterate else None},
                                keep=keep, adapters={AVERAGE_ADAPTER: average.weights} if average else None)

            saving_started = time.perf_counter()
            if step % cfg.trainer.save_every == 0 or step == cfg.trainer.steps:
                save(run_dir, cfg.trainer.keep_checkpoints)
            if cfg.trainer.keep_best and improved:
                save(run_dir / "best", 1)
            checkpoint_seconds = time.perf_counter() - saving_started
            bar.update(task, completed=step, stats=progress_stats(metrics))
    runner.close()
    log.close()
    if cfg.trainer.final_eval_matches and arena_games(games):
        final_evaluation(cfg, policy, arena_games(games), run_dir)
    return run_dir


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
