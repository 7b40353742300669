"""The transfer suite: does what a run learned carry over to what it never trained on?

    report = transfer("runs/kuhn_poker/checkpoints/step_000010/model", config=run_config)
    print_transfer(report.rows)

Two kinds of *unit*, each measured item by item on items that are the same for every player:

- **held-out games** (default: every first-class game not in the run's ``games.names``): the
  player against fixed players (``random`` by default) from every seat, through
  :func:`sparring.evaluation.evaluate.evaluate` (same seeds, same rules, Wilson intervals);
  an item is one match (its seed), its value the player's return, a hit a win of its team;
- **reasoning tasks** from reasoning-gym (default :data:`sparring.games.reasoning.DEFAULT_TASKS`):
  item i of each task's dataset at the fixed ``EVAL_SEED``, played as a one-seat game through the
  rollout engine (so the LM's generation is batched and stops at the closed answer); its value is
  the package's own score, a hit full marks.

Each unit's row holds the hit rate with its 95% Wilson interval, the mean value with its 95%
interval and, against a *reference* player (default: the run's initial model ``lm:MODEL``), the
paired difference of mean values over the same items with its 95% interval and an exact sign-test
p-value (McNemar's exact test on 0/1 scores). Every unit is generated under a fresh torch seed,
``greedy`` or sampled at ``temperature``, so a model compared with itself gives a delta of exactly 0.

Rows are appended to ``RUN_DIR/eval.jsonl`` with ``metric = "transfer"``; the reference's items
are measured once per process for the same settings (the trainer calls the suite repeatedly).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from sparring.errors import SparringError
from sparring.evaluation.evaluate import append_rows, evaluate
from sparring.evaluation.stats import mean_interval, outcome, paired_delta, wilson_interval
from sparring.games import make_game
from sparring.games.base import EVALUATION_RULES, MatchRules
from sparring.games.reasoning import DEFAULT_TASKS, EVAL_SEED, ReasoningGame, check_tasks
from sparring.players.base import Player
from sparring.players.lm import LMPlayer
from sparring.players.rollout import MatchSpec, PlayedMatch, Rollout

__all__ = ["Measure", "TransferReport", "TransferSettings", "held_out_games", "measure", "print_transfer",
           "transfer", "transfer_rows", "unit_label"]

UnitKey = tuple[str, str, str, str]  # (kind "task" | "game", task or game name, opponent or "", seat or "all")
_MODELS: dict[str, tuple[Any, Any]] = {}  # lm: specs loaded once per process
_REFERENCE: dict[tuple, dict[UnitKey, Measure]] = {}  # reference measurements by (spec, settings)


@dataclass
class Measure:
    """One player's results on one unit, item by item in a fixed order (so players pair up)."""

    values: list[float]  # a task's score or a match's return
    hits: list[bool]  # full marks, or a win
    invalid: list[bool]  # no answer in the format, or a match lost on an invalid move
    texts: list[str] = field(default_factory=list)  # the player's answers (a match's joined by " | ")

    def summary(self) -> dict[str, float]:
        """n, hit rate and invalid rate with Wilson intervals, mean value with its interval."""
        n = len(self.values)
        rate_low, rate_high = wilson_interval(sum(self.hits), n)
        invalid_low, invalid_high = wilson_interval(sum(self.invalid), n)
        mean, low, high = mean_interval(self.values)
        return {"n": n, "rate": sum(self.hits) / max(1, n), "rate_low": rate_low, "rate_high": rate_high,
                "invalid": sum(self.invalid) / max(1, n), "invalid_low": invalid_low, "invalid_high": invalid_high,
                "mean": mean, "mean_low": low, "mean_high": high}


@dataclass(frozen=True)
class TransferSettings:
    """Everything that fixes the items and how they are answered (the reference cache's key)."""

    tasks: tuple[str, ...] = DEFAULT_TASKS
    items: int = 32  # items per task
    task_seed: int = EVAL_SEED  # dataset seed of the evaluation items
    games: tuple[str, ...] = ()
    opponents: tuple[str, ...] = ("random",)
    matches: int = 32  # matches per (held-out game, opponent), seats alternating
    seed: int = 0  # match seeds and the torch sampling seed of every unit
    greedy: bool = True
    temperature: float = 1.0  # sampled mode only
    template: str = "short"
    game_tokens: int = 32  # max new tokens per game move
    task_tokens: int = 32  # max new tokens per task answer
    rules: MatchRules = EVALUATION_RULES
    concurrency: int = 32

    def __post_init__(self) -> None:
        if self.items < 1 and self.tasks:
            raise SparringError(f"the transfer suite needs at least one item per task, got {self.items}")
        if self.matches < 1 and self.games:
            raise SparringError(f"the transfer suite needs at least one match per game, got {self.matches}")
        if not self.greedy and self.temperature <= 0:
            raise SparringError(f"sampled mode needs a positive temperature, got {self.temperature}")
        check_tasks(list(self.tasks))

    @property
    def mode(self) -> str:
        return "greedy" if self.greedy else f"sampled T={self.temperature:g}"


@dataclass
class TransferReport:
    """The suite's rows, and the item-level results behind them (for further paired comparisons)."""

    rows: list[dict[str, Any]]
    measures: dict[UnitKey, Measure]
    reference: dict[UnitKey, Measure] | None = None
    settings: TransferSettings = field(default_factory=TransferSettings)


def held_out_games(trained: Sequence[str]) -> list[str]:
    """The first-class games a run did not train on, in registry order."""
    from sparring.games import first_class_games

    return [name for name, game in first_class_games().items()
            if name not in set(trained) and game.fixed_players_play]


# ----------------------------------------------------------------------------- players


def _load(spec: str) -> tuple[Any, Any]:
    from sparring.model import load_model

    if spec not in _MODELS:
        _MODELS[spec] = load_model(spec.removeprefix("lm:"))
    return _MODELS[spec]


def _as_spec(name: str) -> str:
    return name if name.startswith("lm:") else f"lm:{name}"


def _players(player: str | Player, settings: TransferSettings) -> tuple[LMPlayer, LMPlayer]:
    """(game player, task player): the same model in the suite's mode, with each unit's token budget."""
    if isinstance(player, LMPlayer):
        model, tokenizer, name = player.model, player.tokenizer, player.name
    elif isinstance(player, str):
        name = _as_spec(player)
        model, tokenizer = _load(name)
    else:
        raise SparringError(f"the transfer suite evaluates language models, not {player.name!r}")
    common = dict(template=settings.template, temperature=settings.temperature, greedy=settings.greedy, name=name)
    return (LMPlayer(model, tokenizer, max_new_tokens=settings.game_tokens, **common),
            LMPlayer(model, tokenizer, max_new_tokens=settings.task_tokens, **common))


# ----------------------------------------------------------------------------- measuring


def _task_unit(player: LMPlayer, task: str, settings: TransferSettings, advance) -> Measure:
    game = ReasoningGame(task, settings.task_seed, settings.items)
    rules = replace(settings.rules, invalid_penalty=0.0, invalid_bonus=0.0)  # no answer scores 0, as the scorer's None
    results: dict[int, PlayedMatch] = {}

    def spec(i: int) -> MatchSpec:
        return MatchSpec(game, [player], i, rules)

    for played in Rollout(settings.concurrency).play(spec, num_matches=settings.items):
        results[played.spec.seed] = played
        advance()
    ordered = [results[i].match for i in range(settings.items)]
    values = [m.returns()[0] for m in ordered]
    return Measure(values, [outcome([v], 0) == "win" for v in values], [bool(m.invalid_seats()) for m in ordered],
                   [m.turns[-1].text for m in ordered])


def _game_units(player: LMPlayer, game: str, settings: TransferSettings, progress: bool) -> dict[UnitKey, Measure]:
    played: dict[tuple[str, int], tuple[int, PlayedMatch]] = {}

    def collect(game_name: str, opponent: str, pm: PlayedMatch) -> None:
        played[(opponent, pm.spec.seed)] = (pm.spec.meta["labels"].index(0), pm)

    evaluate(player, [game], opponents=list(settings.opponents), matches=settings.matches, seed=settings.seed,
             exploitability=False, rules=settings.rules, concurrency=settings.concurrency, progress=progress,
             on_match=collect)
    units: dict[UnitKey, Measure] = {}
    for (opponent, _), (seat, pm) in sorted(played.items(), key=lambda kv: kv[0]):
        returns, invalid = pm.match.returns(), pm.match.invalid_seats()
        for seat_key in (pm.match.role(seat), "all"):
            unit = units.setdefault(("game", game, opponent, seat_key), Measure([], [], []))
            unit.texts.append(" | ".join(t.text for t in pm.match.turns if t.seat == seat))
            unit.values.append(returns[seat])
            unit.hits.append(outcome(returns, seat, pm.match.teams()) == "win")
            unit.invalid.append(seat in invalid)
    roles = make_game(game).roles
    return dict(sorted(units.items(), key=lambda kv: (kv[0][2], _seat_rank(roles, kv[0][3]))))


def _seat_rank(roles: tuple[str, ...], seat: str) -> tuple[bool, int, str]:
    """Where a unit's seat sorts: the game's roles in their order, then roles dealt per match (spy,
    civilian) by name, then "all"."""
    return seat == "all", roles.index(seat) if seat in roles else len(roles), seat


def measure(player: str | Player, settings: TransferSettings, progress: bool = False) -> dict[UnitKey, Measure]:
    """Every unit of the suite for one player. torch's RNG is re-seeded per unit and restored after."""
    from sparring.evaluation.evaluate import _progress

    game_player, task_player = _players(player, settings)
    units: dict[UnitKey, Measure] = {}
    with torch.random.fork_rng(devices=[]):
        with _progress(progress) as bar:
            bar_task = bar.add_task(f"reasoning tasks: {task_player.name}",
                                    total=len(settings.tasks) * settings.items, stats="")
            for task in settings.tasks:
                bar.update(bar_task, stats=task)
                torch.manual_seed(settings.seed)
                units[("task", task, "", "solver")] = _task_unit(task_player, task, settings,
                                                                 lambda: bar.advance(bar_task))
        for game in settings.games:
            torch.manual_seed(settings.seed)
            units.update(_game_units(game_player, game, settings, progress))
    return units


def _reference_measure(reference: str, settings: TransferSettings, progress: bool) -> dict[UnitKey, Measure]:
    key = (_as_spec(reference), settings)
    if key not in _REFERENCE:
        _REFERENCE[key] = measure(reference, settings, progress)
    return _REFERENCE[key]


# ----------------------------------------------------------------------------- rows


def transfer_rows(measures: dict[UnitKey, Measure], reference: dict[UnitKey, Measure] | None,
                  player: str, reference_name: str | None, settings: TransferSettings) -> list[dict[str, Any]]:
    """One row per unit: the player's summary, the reference's, and the paired delta of mean values."""
    rows = []
    for (kind, name, opponent, seat), unit in measures.items():
        row: dict[str, Any] = {"metric": "transfer", "kind": kind, "name": name, "opponent": opponent or None,
                               "seat": seat, "player": player, "mode": settings.mode, **unit.summary()}
        ref = reference.get((kind, name, opponent, seat)) if reference is not None else None
        if ref is not None:
            row["reference"] = reference_name
            row.update({f"ref_{k}": v for k, v in ref.summary().items() if k != "n"})
            row.update(paired_delta(unit.values, ref.values))
        rows.append(row)
    return rows


def transfer(
    player: str | Player,
    config: Any = None,
    *,
    reference: str | None = "initial",
    tasks: Sequence[str] | None = None,
    items: int = 32,
    games: Sequence[str] | None = None,
    opponents: Sequence[str] = ("random",),
    matches: int = 32,
    seed: int = 0,
    greedy: bool = True,
    temperature: float = 1.0,
    task_tokens: int = 32,
    game_tokens: int | None = None,
    template: str | None = None,
    rules: MatchRules | None = None,
    concurrency: int = 32,
    run_dir: str | Path | None = None,
    step: int | None = None,
    progress: bool = False,
) -> TransferReport:
    """Run the suite on `player` (a model spec or an LMPlayer) and compare it with `reference`.

    config: the run's Config, if any: held-out games are the first-class games outside
        ``games.names``; the template, move tokens and answer format are the run's; reference
        "initial" is ``lm:{model.name}``. Without a config: template short, 32 move tokens, and
        "initial" means no reference.
    reference: "initial", a model spec, or None (no deltas).
    tasks: reasoning-gym task names (default: DEFAULT_TASKS the run did not train on); items: items per task.
    games: held-out games (default from the config; none without one); opponents, matches: per game.
    greedy / temperature: the generation mode of every unit (sampled mode draws from a fixed seed).
    task_tokens, game_tokens: max new tokens per task answer and per game move (default: the run's).
    run_dir, step: append the rows, tagged with the step, to RUN_DIR/eval.jsonl.
    """
    if games is None:
        games = held_out_games(config.games.names) if config is not None else []
    if tasks is None:
        trained = set(config.games.names) if config is not None else set()
        tasks = [t for t in DEFAULT_TASKS if f"reasoning:{t}" not in trained]
    if rules is None:
        rules = EVALUATION_RULES
        if config is not None:
            rules = replace(rules, answer_format=config.games.answer_format, max_turns=config.games.max_turns)
    settings = TransferSettings(
        tasks=tuple(tasks), items=items, games=tuple(games),
        opponents=tuple(opponents), matches=matches, seed=seed, greedy=greedy, temperature=temperature,
        template=template or (config.games.template if config is not None else "short"),
        game_tokens=game_tokens or (config.rollout.max_new_tokens if config is not None else 32),
        task_tokens=task_tokens,
        rules=rules, concurrency=concurrency)
    if reference == "initial":
        reference = f"lm:{config.model.name}" if config is not None else None
    measured = measure(player, settings, progress)
    ref_measured = _reference_measure(reference, settings, progress) if reference else None
    name = player.name if isinstance(player, Player) else _as_spec(player)
    stamp = {"step": step, "wall_time": time.time(), "suite": "transfer"}
    rows = [{**stamp, **row} for row in transfer_rows(measured, ref_measured, name, reference and _as_spec(reference),
                                                      settings)]
    if run_dir is not None:
        append_rows(Path(run_dir) / "eval.jsonl", rows)
    return TransferReport(rows, measured, ref_measured, settings)


# ----------------------------------------------------------------------------- printing


def _pct(row: dict[str, Any], key: str) -> str:
    return f"{100 * row[key]:.0f} [{100 * row[key + '_low']:.0f}-{100 * row[key + '_high']:.0f}]"


def _mean(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:+.2f} ±{(row[key + '_high'] - row[key + '_low']) / 2:.2f}"  # normal intervals are symmetric


def unit_label(row: dict[str, Any]) -> str:
    """``chain_sum`` for a task, ``tic_tac_toe vs random`` for a game."""
    return row["name"] if row["kind"] == "task" else f"{row['name']} vs {row['opponent']}"


def print_transfer(rows: list[dict[str, Any]], console=None, title: str | None = None) -> None:
    """The suite's rows as one rich table: hit %, mean and the paired delta vs the reference."""
    from rich import box
    from rich.table import Table

    from sparring.progress import console as shared_console

    console = console or shared_console
    rows = [r for r in rows if r.get("metric") == "transfer"]
    if not rows:
        return
    first = rows[0]
    against = f" vs reference {first['reference']}" if first.get("reference") else ""
    step = f" at step {first['step']}" if first.get("step") is not None else ""
    table = Table(title=title or f"transfer: {first['player']}{step}{against}, {first['mode']}\n"
                                 "hit = solved (task) or won (game): % [95% Wilson]; mean score or return ±95% CI; "
                                 "delta = paired mean difference ±95% CI; p = exact sign test",
                  box=box.SIMPLE_HEAD)
    for column in ("unit", "seat", "n", "hit %", "invalid %", "mean", "ref mean", "delta", "p"):
        table.add_column(column, justify="left" if column == "unit" else "right", no_wrap=True)
    for row in rows:
        has_ref = "delta" in row
        table.add_row(unit_label(row), row["seat"], str(row["n"]), _pct(row, "rate"), f"{100 * row['invalid']:.0f}",
                      _mean(row, "mean"), f"{row['ref_mean']:+.2f}" if has_ref else "-",
                      _mean(row, "delta") if has_ref else "-", f"{row['p_value']:.2f}" if has_ref else "-",
                      end_section=row["kind"] == "game" and row["seat"] == "all")
    console.print(table)
