"""The `sparring` command line. Every user error is one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
from dataclasses import replace
import sys
import time
from pathlib import Path

from rich.table import Table

from sparring.errors import SparringError
from sparring.progress import console
from sparring.seeding import stream_seed



def cmd_games(args: argparse.Namespace) -> None:
    from sparring.games import first_class_games, import_game_modules, make_game, registered_games
    from sparring.games.openspiel_games import generic_openspiel_names

    import_game_modules(args.modules)
    table = Table(title="Playable games")
    for column in ("game", "seats", "description"):
        table.add_column(column)
    games = {**first_class_games(), **{name: make_game(name) for name in registered_games()}}
    for name, game in games.items():
        table.add_row(name, ", ".join(game.roles), game.description)
    console.print(table)
    generic = generic_openspiel_names()
    console.print(f"Also any of {len(generic)} two-player turn-based OpenSpiel games with a generic prompt, "
                  f"as openspiel:NAME (e.g. {', '.join(generic[:4])}).")
    console.print("And any reasoning-gym task as a one-seat game, reasoning:TASK (e.g. reasoning:chain_sum); "
                  "see sparring eval --suite transfer.")


def lm_options(args: argparse.Namespace) -> dict:
    from sparring.cli.api_flags import api_config

    return {"template": args.template, "max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
            "backend": args.backend, "moves": args.moves, "api": api_config(args)}


def cmd_arena(args: argparse.Namespace) -> None:
    from sparring.evaluation.arena import run_arena
    from sparring.games import EVALUATION_RULES, make_game
    from sparring.players import make_player
    from sparring.progress import progress_bar

    game = make_game(args.game).with_seats(len(args.players))
    rules = replace(EVALUATION_RULES, answer_format=args.answer_format)
    players = tuple(make_player(name, seed=stream_seed(args.seed, "players", 0, k), **lm_options(args))
                    for k, name in enumerate(args.players))
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"{game.name}: {' vs '.join(p.name for p in players)}", total=args.matches, stats="")

        def advance(_played) -> None:
            tokens = sum(getattr(p, "tokens_generated", 0) for p in players)
            rate = tokens / (time.perf_counter() - started)
            bar.update(task, advance=1, stats=f"{rate:.0f} tok/s" if tokens else "")

        result = run_arena(game, players, args.matches, seed=args.seed, rules=rules,
                           concurrency=args.concurrency, transcripts=Path(args.out) if args.out else None,
                           on_match=advance)
    print_arena(result)
    if args.out:
        console.print(f"transcripts: {args.out}")


def print_arena(result) -> None:
    table = Table(title=f"{result.game}: rates in % with 95% Wilson intervals; mean return with 95% CI",
                  caption=result.shows)
    for column in ("player", "seat", "n", "win %", "draw %", "loss %", "invalid %", "mean return"):
        table.add_column(column, justify="right")
    for row in result.rows():
        cells = [f"{100 * row[k]:.0f} [{100 * row[k + '_low']:.0f}-{100 * row[k + '_high']:.0f}]"
                 for k in ("win", "draw", "loss", "invalid")]
        ret = f"{row['mean_return']:+.2f} [{row['mean_return_low']:+.2f}, {row['mean_return_high']:+.2f}]"
        table.add_row(row["player"], str(row["seat"]), str(row["matches"]), *cells, ret)
    console.print(table)


def cmd_play(args: argparse.Namespace) -> None:
    from sparring.evaluation.arena import run_arena
    from sparring.games import EVALUATION_RULES, make_game
    from sparring.players import make_player
    from sparring.players.fixed import HumanPlayer

    game = make_game(args.game)
    if not 0 <= args.seat < game.num_seats:
        raise SparringError(f"{game.name} has seats 0 to {game.num_seats - 1}, not {args.seat}")
    opponent = make_player(args.opponent, seed=stream_seed(args.seed, "players", 0, 1), **lm_options(args))
    human = HumanPlayer()
    players = [human if s == args.seat else opponent for s in range(game.num_seats)]
    rules = replace(EVALUATION_RULES, answer_format=args.answer_format)

    def report(played) -> None:
        match = played.match
        for turn in match.turns:
            who = "you" if played.spec.players[turn.seat] is human else opponent.name
            console.print(f"  {match.role(turn.seat)} ({who}): {turn.move or 'INVALID: ' + turn.text!r}")
        returns = match.returns()
        console.print(match.observation_text(args.seat))
        console.print(f"[bold]Game over.[/bold] Returns: {returns}. You {'won' if returns[args.seat] > max(returns[:args.seat] + returns[args.seat + 1:]) else 'did not win'}.")

    result = run_arena(game, players, 1, seed=args.seed, rules=rules, concurrency=1, on_match=report)
    for abandoned in result.abandoned:
        console.print(f"[bold]The match was abandoned[/bold], no result: {abandoned['reason']}")


def cmd_train(args: argparse.Namespace) -> None:
    from sparring.config import load_config
    from sparring.training.trainer import train

    if args.resume:
        config_path = Path(args.resume) / "config.yaml"
        if not config_path.exists():
            raise SparringError(f"{args.resume} is not a run directory (no config.yaml)")
        cfg = load_config(config_path, args.set + [f"trainer.run_dir={args.resume}"])
    elif args.config:
        cfg = load_config(args.config, args.set)
    else:
        raise SparringError("give a config file (e.g. configs/kuhn_poker.yaml) or --resume RUN_DIR")
    run_dir = train(cfg, resume=bool(args.resume))
    console.print(f"run directory: {run_dir}")


def cmd_compare(args: argparse.Namespace) -> None:
    from sparring.training.compare import compare, print_compare

    if args.tasks:
        from sparring.games.reasoning import check_tasks

        check_tasks(args.tasks)
    suite = {"tasks": args.tasks, "items": args.items, "games": args.games, "matches": args.matches,
             "task_tokens": args.task_tokens, "greedy": not args.sampled, "temperature": args.temperature}
    rows = compare(args.configs, args.set, out=args.out, suite=suite)
    print_compare(rows, console)
    console.print(f"wrote {Path(args.out) / 'compare.json'}")


def build_parser() -> argparse.ArgumentParser:
    from sparring.cli.api_flags import add_api_flags

    parser = argparse.ArgumentParser(prog="sparring", description="Train language models by self-play on games.")
    sub = parser.add_subparsers(dest="command", required=True)

    games = sub.add_parser("games", help="list playable games")
    games.add_argument("--modules", nargs="*", default=[],
                       help="modules or .py files that register games (as games.modules), listed too")
    games.set_defaults(run=cmd_games)

    def add_lm_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--answer-format", default="boxed", choices=["boxed", "bracket"])
        p.add_argument("--template", default="short", help="prompt template for lm: players")
        p.add_argument("--max-new-tokens", type=int, default=32)
        p.add_argument("--temperature", type=float, default=1.0)
        p.add_argument("--backend", default="hf", choices=["hf", "vllm"], help="generation engine of lm: players")
        p.add_argument("--moves", default="free", choices=["free", "legal"],
                       help="lm: players write their answers (free) or sample among the legal moves' answers (legal)")
        p.add_argument("--seed", type=int, default=0)
        add_api_flags(p)

    arena = sub.add_parser("arena", help="play one player per seat against each other, rotating seats",
                           description="One player per seat of the game (hanabi and spy take their seat count from "
                                       "the players: sparring arena spy lm:default random random random); seats "
                                       "rotate from match to match so every player takes every seat.")
    arena.add_argument("game")
    arena.add_argument("players", nargs="+", metavar="PLAYER", help="one per seat, e.g. random mcts lm:default")
    arena.add_argument("--matches", type=int, default=100)
    arena.add_argument("--concurrency", type=int, default=32, help="matches played at once")
    arena.add_argument("--out", help="write every match as one JSONL record here")
    add_lm_flags(arena)
    arena.set_defaults(run=cmd_arena)

    play = sub.add_parser("play", help="play a game yourself in the terminal")
    play.add_argument("game")
    play.add_argument("--opponent", default="random")
    play.add_argument("--seat", type=int, default=0, help="your seat (0 moves first); the opponent takes the others")
    add_lm_flags(play)
    play.set_defaults(run=cmd_play)
    train = sub.add_parser("train", help="train a policy by self-play from a YAML config")
    train.add_argument("config", nargs="?", help="YAML config (see configs/)")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                       help="override a config field, e.g. --set trainer.lr=1e-5 (repeatable)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    train.set_defaults(run=cmd_train)

    comp = sub.add_parser("compare", help="train configs on one budget, then the transfer suite on each",
                          description="Trains every config with the same --set overrides into OUT/CONFIG_STEM "
                                      "(budgets, seeds and initial model must agree), then runs the transfer suite "
                                      "on each result and prints paired deltas vs the initial model and vs the "
                                      "first config.")
    comp.add_argument("configs", nargs="+", metavar="CONFIG")
    comp.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                      help="override a field of every config (repeatable)")
    comp.add_argument("--out", default="runs/compare", help="folder for the runs and compare.json")
    comp.add_argument("--tasks", nargs="+", metavar="TASK", help="reasoning-gym tasks (default: the suite's)")
    comp.add_argument("--items", type=int, default=32, help="items per task")
    comp.add_argument("--games", nargs="*", help="held-out games (default: first-class games no config trains on; "
                                                   "--games alone: none)")
    comp.add_argument("--matches", type=int, default=32, help="matches per held-out game vs random")
    comp.add_argument("--task-tokens", type=int, default=32, help="max new tokens per task answer")
    comp.add_argument("--sampled", action="store_true", help="sample at --temperature (default: greedy)")
    comp.add_argument("--temperature", type=float, default=1.0)
    comp.set_defaults(run=cmd_compare)

    from sparring.cli.eval import add_eval_commands
    from sparring.cli.serve import add_serve_command

    add_eval_commands(sub)
    add_serve_command(sub)
    for command in sub.choices.values():
        command.add_argument("--verbose", action="store_true",
                             help="show the libraries' start-up logs and warnings (vLLM, transformers, torch)")
    return parser


def quiet_libraries(verbose: bool) -> None:
    """Library chatter (engine start-up logs, weight-loading bars, deprecation notices) buries the
    command's own output: off unless --verbose. Set before torch is imported (its C++ log level is
    read once, at import)."""
    import os
    import warnings

    if verbose:
        os.environ["SPARRING_VERBOSE"] = "1"  # an environment variable: Ray workers inherit it
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO")
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # vLLM's CPU worker warns about NUMA binding in C++
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*(Unable to fetch remote file|Could not find a config file).*")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries(args.verbose)
    try:
        args.run(args)
    except SparringError as error:
        print(f"sparring: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sparring: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
