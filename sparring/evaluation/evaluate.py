"""Evaluation that proves skill: rates against fixed players from every seat, and exploitability.

    rows = evaluate("lm:runs/kuhn/checkpoints/step_000100/model", ["kuhn_poker"], run_dir=run, step=100)

For each game and each opponent, `evaluate` plays `matches` matches through `run_arena`
(the evaluated player alternates seats, so each seat gets half) under `EVALUATION_RULES`
(an invalid move loses: -1 / +1), and returns one row per seat of the evaluated player plus
one for all seats: win / draw / loss / invalid rates with 95% Wilson intervals and the mean
return with its 95% interval. On kuhn_poker and leduc_poker it adds one row with the exact
exploitability of the player's policy (`sparring.evaluation.exploitability`) beside the uniform-random
and CFR reference points. With `run_dir`, rows are appended to ``RUN_DIR/eval.jsonl``.

Row keys (match rows): step, wall_time, game, player, opponent, seat (0, 1, ... or "all"),
role, matches, win, win_low, win_high, draw..., loss..., invalid..., mean_return,
mean_return_low, mean_return_high; the "all" row also holds abandoned (matches a served player's transport
failure abandoned, not counted) when there were any.
Exploitability row: step, wall_time, game, player, metric="exploitability", value, nash_conv,
mode, uniform, always, always_move, cfr (the references).

Opponents by default (`default_opponents`): random everywhere; cfr on Kuhn and Leduc;
MCTS (100 simulations) on perfect-information OpenSpiel games; minimax on tic-tac-toe.
Opponents that cannot play a game (cfr on chess, minimax on poker) are skipped for that game.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyspiel

from sparring.evaluation.arena import ArenaResult, run_arena
from sparring.errors import SparringError
from sparring.games.base import EVALUATION_RULES, LanguageGame, MatchRules
from sparring.players.base import Player
from sparring.players.rollout import PlayedMatch
from sparring.seeding import stream_seed

__all__ = ["append_rows", "default_opponents", "evaluate", "plays", "print_eval", "read_eval"]

MCTS_OPPONENT = "mcts:100"
GAME_METRICS = {"spy_win_rate": "spy win rate (as the spy)",
                "civilian_accuracy": "civilian accuracy (its votes that named the spy)"}
_LM_OPPONENTS: dict[tuple, Player] = {}  # lm: opponents (e.g. the initial model), kept across calls


def _engine_type(game: LanguageGame):
    engine = getattr(game, "engine", None)
    return engine.get_type() if isinstance(engine, pyspiel.Game) else None


def plays(opponent: str, game: LanguageGame) -> bool:
    """Whether a fixed-player spec can sit at this game (lm:, api:, random and human play anything)."""
    from sparring.players.fixed import CFR_GAMES, perfect_information

    kind = opponent.partition(":")[0]
    game_type = _engine_type(game)
    if kind == "hanabi_rules":
        return game_type is not None and game_type.short_name == "hanabi"
    if kind == "cfr":
        return game_type is not None and game_type.short_name in CFR_GAMES and game.name in CFR_GAMES
    if kind == "mcts":  # MCTS on an imperfect-information game would search hidden cards: it cheats
        return perfect_information(game)
    if kind == "minimax":
        return (game_type is not None
                and game_type.information == pyspiel.GameType.Information.PERFECT_INFORMATION
                and game_type.chance_mode == pyspiel.GameType.ChanceMode.DETERMINISTIC
                and game_type.utility == pyspiel.GameType.Utility.ZERO_SUM
                and game_type.short_name == "tic_tac_toe")  # exact search is only cheap on small games
    return True


def default_opponents(game: LanguageGame) -> list[str]:
    """The fixed players a game is evaluated against when none are named."""
    return [spec for spec in ("random", "cfr", MCTS_OPPONENT, "minimax", "hanabi_rules") if plays(spec, game)]


def _exploitability_games() -> tuple[str, ...]:
    from sparring.evaluation.exploitability import EXPLOITABILITY_GAMES

    return EXPLOITABILITY_GAMES


def evaluate(
    player: str | Player,
    games: Sequence[str],
    opponents: Sequence[str | Player] | None = None,
    matches: int = 32,
    seed: int = 0,
    *,
    initial: str | Player | None = None,
    run_dir: str | Path | None = None,
    step: int | None = None,
    exploitability: bool = True,
    exploitability_mode: str = "likelihood",
    samples: int = 8,
    rules: MatchRules = EVALUATION_RULES,
    concurrency: int = 32,
    lm_options: dict[str, Any] | None = None,
    transcripts_dir: str | Path | None = None,
    progress: bool = False,
    on_match: Callable[[str, str, PlayedMatch], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate `player` on `games`; return the rows (and append them to RUN_DIR/eval.jsonl).

    player: a `Player` (e.g. the trainer's LM player) or a spec: ``lm:default``, ``lm:PATH``,
        ``random``... A bare model name or path (``default``, ``runs/x/checkpoints/step_000010/model``)
        is read as ``lm:NAME``.
    games: game names (`sparring games`).
    opponents: player specs or `Player`s; None = `default_opponents(game)` for each game.
    matches: matches per (game, opponent); the evaluated player takes each seat in half of them.
    seed: match seeds are seed, seed + 1, ...: every opponent meets the same deals.
    initial: also play this opponent (e.g. ``lm:default``, the untrained model) on every game.
        Opponents given as lm: specs are loaded once per process and reused by later calls.
    run_dir, step: append the rows, tagged with `step`, to RUN_DIR/eval.jsonl.
    exploitability: add the exploitability row on kuhn_poker and leduc_poker. Likelihood mode
        scores every legal move of every information state once: Kuhn has 12 states (24
        sequences, seconds to a minute on CPU for the default model), Leduc 936 (about 2,300
        sequences: tens of minutes on CPU), so skip Leduc in frequent in-training evaluations.
    exploitability_mode, samples: "likelihood" (LM players: exact answer likelihoods) or
        "sample" (`samples` answers per information state; any player). See sparring.evaluation.exploitability.
    rules: match rules (default: EVALUATION_RULES, an invalid move loses -1 / +1).
    concurrency: matches played at once (their LM turns are batched).
    lm_options: options for players built from lm: specs (template, max_new_tokens, temperature).
    transcripts_dir: write every match to DIR/{game}__{opponent}.jsonl.
    progress: show a progress bar.
    on_match: called as on_match(game, opponent, played_match) after every match (the evaluated
        player sits at the seat where ``played_match.spec.meta["labels"]`` holds 0).
    """
    from sparring.games import make_game
    from sparring.players import is_model_spec, make_player

    lm_options = dict(lm_options or {})
    if matches < 1:
        raise SparringError("evaluation needs at least one match per opponent")
    evaluated = _as_player(player, seed, lm_options)
    if (exploitability and exploitability_mode == "likelihood" and getattr(evaluated, "model", None) is not None
            and any(name in _exploitability_games() for name in games)):
        from sparring.evaluation.exploitability import check_likelihood_reads

        check_likelihood_reads(getattr(evaluated, "template", "short"))  # before the matches, not after them
    built: dict[str, Player] = {}

    def opponent_player(spec: str | Player, index: int) -> Player:
        if isinstance(spec, Player):
            return spec
        if is_model_spec(spec):  # models are loaded (or reached) once per process, not once per evaluation
            key = (spec, tuple(sorted(lm_options.items())))
            if key not in _LM_OPPONENTS:
                _LM_OPPONENTS[key] = make_player(spec, seed=stream_seed(seed, "players", 0, 1 + index), **lm_options)
            return _LM_OPPONENTS[key]
        if spec not in built:
            built[spec] = make_player(spec, seed=stream_seed(seed, "players", 0, 1 + index))
        return built[spec]

    plan: list[tuple[LanguageGame, list[str | Player]]] = []
    for name in games:
        game = make_game(name)
        wanted: list[str | Player] = list(opponents) if opponents is not None else list(default_opponents(game))
        if initial is not None:
            wanted.append(initial)
        if game.num_seats < 2:
            raise SparringError(f"{game.name} has one seat and no opponent: evaluate it with the transfer suite "
                                "(sparring eval --suite transfer --tasks ...)")
        plan.append((game, [o for o in wanted if not isinstance(o, str) or plays(o, game)]))

    rows: list[dict[str, Any]] = []
    bar = _progress(progress)

    def _after_match(game_name: str, opponent_name: str, played: PlayedMatch) -> None:
        bar.advance(task)
        if on_match is not None:
            on_match(game_name, opponent_name, played)

    with bar:
        task = bar.add_task(f"evaluating {evaluated.name}", total=sum(len(o) for _, o in plan) * matches, stats="")
        for game, wanted in plan:
            for index, spec in enumerate(wanted):
                opponent = opponent_player(spec, index)
                bar.update(task, stats=f"{game.name} vs {opponent.name}")
                out = None
                if transcripts_dir is not None:
                    Path(transcripts_dir).mkdir(parents=True, exist_ok=True)
                    out = Path(transcripts_dir) / f"{game.name}__{_slug(opponent.name)}.jsonl"
                seen: list[PlayedMatch] = []

                def after(played: PlayedMatch, game_name=game.name, opponent_name=opponent.name) -> None:
                    seen.append(played)
                    _after_match(game_name, opponent_name, played)

                # The other seats are one fixed team of this opponent; the evaluated player rotates seats.
                seated = (evaluated,) + (opponent,) * (game.num_seats - 1)
                result = run_arena(game, seated, matches, seed=seed, rules=rules,
                                   concurrency=concurrency, transcripts=out, on_match=after)
                own = _match_rows(result, game, opponent.name)
                if not own:
                    raise SparringError(f"every match of {game.name} against {opponent.name} was abandoned "
                                        f"({result.abandoned[-1]['reason']}); transcripts keep them")
                extra = game.seat_metrics([p.match for p in seen], [p.spec.meta["labels"].index(0) for p in seen])
                own[-1].update(extra)  # the "all" row
                if result.abandoned:
                    own[-1]["abandoned"] = len(result.abandoned)
                rows.extend(own)
            if exploitability and game.name in _exploitability_games():
                bar.update(task, stats=f"{game.name}: exploitability")
                rows.append(_exploitability_row(evaluated, game, exploitability_mode, samples, rules))
    stamp = {"step": step, "wall_time": time.time()}
    rows = [{**stamp, **row} for row in rows]
    if run_dir is not None:
        append_rows(Path(run_dir) / "eval.jsonl", rows)
    return rows


def _as_player(player: str | Player, seed: int, lm_options: dict[str, Any]) -> Player:
    from sparring.players import is_model_spec, make_player

    if isinstance(player, Player):
        return player
    spec = player
    kind = spec.partition(":")[0]
    if kind not in ("lm", "api", "random", "mcts", "minimax", "cfr", "hanabi_rules", "human"):
        spec = f"lm:{spec}"
    return make_player(spec, seed=stream_seed(seed, "players", 0, 0), **(lm_options if is_model_spec(spec) else {}))


class _NoProgress:
    """The calls evaluate makes on a rich Progress, doing nothing (progress=False)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        pass

    def advance(self, *args, **kwargs) -> None:
        pass


def _progress(show: bool):
    if show:
        from sparring.progress import progress_bar

        return progress_bar()
    return _NoProgress()


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-80:]


def _match_rows(result: ArenaResult, game: LanguageGame, opponent: str) -> list[dict[str, Any]]:
    """The evaluated player's rows (player index 0) of an arena result, tagged with game and opponent."""
    own = ArenaResult(result.game, result.players, {k: v for k, v in result.tallies.items() if k[0] == 0})
    rows = []
    for row in own.rows():
        seat = row["seat"]
        role = seat if isinstance(seat, str) else game.roles[seat]  # "all", or a role dealt per match
        rows.append({"game": game.name, "player": row.pop("player"), "opponent": opponent, "seat": seat,
                     "role": role, **{k: v for k, v in row.items() if k != "seat"}})
    return rows


def _exploitability_row(player: Player, game: LanguageGame, mode: str, samples: int,
                        rules: MatchRules) -> dict[str, Any]:
    from sparring.evaluation.exploitability import exploitability_report, lm_policy

    model = getattr(player, "model", None)
    policy = lm_policy(game, player, mode=mode if model is not None else "sample", samples=samples, rules=rules)
    report = exploitability_report(game, policy)
    reference = report["reference"]
    cfr = next((v for k, v in reference.items() if k.startswith("cfr")), None)
    move, always = next((k.removeprefix("always:"), v) for k, v in reference.items() if k.startswith("always:"))
    return {"game": game.name, "player": player.name, "metric": "exploitability",
            "value": report["exploitability"], "nash_conv": report["nash_conv"],
            "mode": mode if model is not None else "sample", "uniform": reference["uniform"],
            "always": always, "always_move": move, "cfr": cfr}


def append_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows to a JSONL file (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")


def read_eval(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every row of RUN_DIR/eval.jsonl (empty when there is none)."""
    from sparring.evaluation.plots import read_jsonl

    return read_jsonl(Path(run_dir) / "eval.jsonl")


def print_eval(rows: list[dict[str, Any]], console=None) -> None:
    """The rows as rich tables: rates with 95% Wilson intervals, then exploitability."""
    from rich import box
    from rich.table import Table

    from sparring.progress import console as shared_console

    console = console or shared_console
    match_rows = [r for r in rows if "metric" not in r]
    if match_rows:
        step = match_rows[0].get("step")
        title = f"{match_rows[0]['player']}" + (f" at step {step}" if step is not None else "")
        table = Table(title=f"{title}: rates in % [95% Wilson interval]", box=box.SIMPLE_HEAD)
        for column in ("game", "opponent", "seat", "n", "win", "draw", "loss", "invalid", "mean return"):
            table.add_column(column, justify="left" if column in ("game", "opponent") else "right",
                             no_wrap=column not in ("game", "opponent"))
        for row in match_rows:
            cells = [f"{100 * row[k]:.0f} [{100 * row[k + '_low']:.0f}-{100 * row[k + '_high']:.0f}]"
                     for k in ("win", "draw", "loss", "invalid")]
            ret = f"{row['mean_return']:+.2f} [{row['mean_return_low']:+.2f}, {row['mean_return_high']:+.2f}]"
            seat = "all" if row["seat"] == "all" else row["role"]
            table.add_row(row["game"], row["opponent"], seat, str(row["matches"]), *cells, ret,
                          end_section=row["seat"] == "all")
        console.print(table)
        for row in match_rows:
            extras = {k: v for k, v in row.items() if k in GAME_METRICS}
            if extras:
                said = ", ".join(f"{GAME_METRICS[k]} {100 * v:.0f}%" for k, v in extras.items())
                console.print(f"{row['game']} vs {row['opponent']}: {said}")
            if row.get("abandoned"):
                console.print(f"{row['game']} vs {row['opponent']}: {row['abandoned']} more matches abandoned, not "
                              "counted (a served player's transport failed; the transcripts keep them)")
    for row in rows:
        if row.get("metric") == "exploitability":
            cfr = f", CFR {row['cfr']:.4f}" if row.get("cfr") is not None else ""
            always = (f", always {row['always_move']} where legal {row['always']:.4f}"
                      if "always" in row else "")  # eval.jsonl rows written before this reference have none
            console.print(f"[bold]{row['game']}[/bold] exploitability of {row['player']} ({row['mode']}): "
                          f"[bold]{row['value']:.4f}[/bold] (NashConv {row['nash_conv']:.4f}); "
                          f"reference: uniform random {row['uniform']:.4f}{always}{cfr}, Nash 0")
