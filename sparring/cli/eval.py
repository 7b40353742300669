"""Command-line commands for evaluation: `eval`, `league`, `plot` and `replay`.

`sparring.cli` calls `add_eval_commands(subparsers)`; each command sets `run=` to its handler,
and every user error is raised as a one-line `SparringError`.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sparring.errors import SparringError

__all__ = ["Target", "add_eval_commands", "resolve_target"]


@dataclass
class Target:
    """What `sparring eval` evaluates: a player spec, and the run it came from (if any)."""

    spec: str
    run_dir: Path | None = None
    step: int | None = None
    config: Any = None  # the run's Config when evaluating a run dir


def _step_of(checkpoint: Path) -> int | None:
    found = re.fullmatch(r"step_(\d+)", checkpoint.name)
    return int(found.group(1)) if found else None


def resolve_target(target: str) -> Target:
    """A run dir (-> its latest checkpoint), a checkpoint dir (or its `average/` policy), a model dir,
    `default`/`tiny`, or lm:SPEC."""
    from sparring.config import load_run_config
    from sparring.model import BUILTIN_MODELS

    if target.startswith("lm:"):
        return Target(target)
    if target in BUILTIN_MODELS or target.startswith("tiny:"):
        return Target(f"lm:{target}")
    path = Path(target).expanduser()
    if not path.exists():
        raise SparringError(f"{target!r} is neither a run directory, a checkpoint, a model directory "
                            f"nor a built-in model ({', '.join(BUILTIN_MODELS)})")
    if not path.is_dir():
        raise SparringError(f"{target!r} is a file; give a run directory, a checkpoint or a model directory")
    if (path / "checkpoints").is_dir() or (path / "config.yaml").is_file():
        from sparring.checkpoint import checkpoint_dirs

        found = [c for c in checkpoint_dirs(path) if (c / "model").is_dir()]
        if not found:
            raise SparringError(f"no checkpoints in {path / 'checkpoints'} (has the run saved one yet?)")
        return Target(f"lm:{found[-1] / 'model'}", path, _step_of(found[-1]), load_run_config(path))
    if path.name == "average" and (path.parent / "model").is_dir():  # a checkpoint's average policy
        checkpoint, model = path.parent, path
    else:
        checkpoint, model = path, path / "model"
    if model.is_dir():  # a checkpoint folder
        run_dir = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
        config = load_run_config(run_dir) if run_dir else None
        return Target(f"lm:{model}", run_dir, _step_of(checkpoint), config)
    if (path / "config.json").is_file() or (path / "adapter_config.json").is_file():
        return Target(f"lm:{path}")
    raise SparringError(f"{target!r} holds no model (no checkpoints/, model/, config.json or adapter_config.json)")


def _rules(config: Any, answer_format: str | None):
    from sparring.games.base import EVALUATION_RULES

    rules = EVALUATION_RULES
    if config is not None:
        rules = replace(rules, answer_format=config.games.answer_format, max_turns=config.games.max_turns)
    if answer_format:
        rules = replace(rules, answer_format=answer_format)
    return rules


def _lm_options(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    from sparring.cli.api_flags import api_config

    options = {"template": "short", "max_new_tokens": 32, "temperature": 1.0, "backend": "hf", "moves": "free"}
    if config is not None:
        options.update(template=config.games.template, max_new_tokens=config.rollout.max_new_tokens,
                       temperature=config.rollout.temperature, backend=config.rollout.backend, moves=config.rollout.moves)
    for key in options:
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    options["api"] = api_config(args, config.api if config is not None else None)
    return options


def cmd_transfer(args: argparse.Namespace, target: Target) -> None:
    """`sparring eval TARGET --suite transfer`: held-out games and reasoning tasks, deltas vs a reference."""
    from sparring.evaluation.transfer import print_transfer, transfer
    from sparring.games.reasoning import check_tasks
    from sparring.progress import console

    if args.tasks:
        check_tasks(args.tasks)
    config = target.config
    report = transfer(
        target.spec, config, reference=None if args.reference == "none" else args.reference, tasks=args.tasks, items=args.items, games=args.games,
        opponents=args.opponents or ["random"], matches=args.matches, seed=args.seed, greedy=not args.sampled,
        temperature=args.temperature if args.temperature is not None else 1.0, task_tokens=args.task_tokens,
        game_tokens=args.max_new_tokens, template=args.template, rules=_rules(config, args.answer_format) if config or args.answer_format else None,
        concurrency=args.concurrency, run_dir=target.run_dir if not args.no_save else None, step=target.step,
        progress=True)
    print_transfer(report.rows, console)
    if target.run_dir is not None and not args.no_save:
        console.print(f"appended {len(report.rows)} rows to {target.run_dir / 'eval.jsonl'}")


def cmd_eval(args: argparse.Namespace) -> None:
    from sparring.evaluation.evaluate import evaluate, print_eval

    target = resolve_target(args.target)
    if args.suite == "transfer":
        return cmd_transfer(args, target)
    config = target.config
    games = args.games or (list(config.games.names) if config is not None else ["kuhn_poker"])
    games = _evaluate_task_games(args, target, config, games)
    games = _evaluate_critic(args, target, config, games)
    if not games:
        return
    rows = evaluate(
        target.spec, games, opponents=args.opponents, matches=args.matches, seed=args.seed,
        initial=args.initial, run_dir=target.run_dir if not args.no_save else None, step=target.step,
        exploitability=not args.no_exploitability, exploitability_mode=args.mode, samples=args.samples,
        rules=_rules(config, args.answer_format), concurrency=args.concurrency,
        lm_options=_lm_options(args, config), transcripts_dir=args.out, progress=True,
    )
    from sparring.progress import console

    print_eval(rows, console)
    if target.run_dir is not None and not args.no_save:
        console.print(f"appended {len(rows)} rows to {target.run_dir / 'eval.jsonl'}")
    if args.out:
        console.print(f"transcripts: {args.out}")


def _evaluate_task_games(args: argparse.Namespace, target: Target, config: Any, games: list[str]) -> list[str]:
    """Task games are scored on their held-out task set (solver accuracy per task type); the
    other games are left for `evaluate`."""
    from sparring.evaluation.task_eval import evaluate_tasks, print_task_eval
    from sparring.games import first_class_games
    from sparring.games.task_games import TaskGame
    from sparring.progress import console

    task_games = [g for g in games if isinstance(first_class_games().get(g), TaskGame)]
    for game in task_games:
        rows = evaluate_tasks(target.spec, game, seed=args.seed, rules=_rules(config, args.answer_format),
                              concurrency=args.concurrency, lm_options=_lm_options(args, config),
                              options=config.tasks if config is not None else None)
        print_task_eval(rows, console)
        if target.run_dir is not None and not args.no_save:
            from sparring.evaluation.evaluate import append_rows

            append_rows(target.run_dir / "eval.jsonl", [{"step": target.step, **row} for row in rows])
    return [g for g in games if g not in task_games]


def cmd_league(args: argparse.Namespace) -> None:
    from sparring.evaluation.league import league_entries, print_league, run_league

    runs = [Path(r) for r in args.run_dirs]
    entries = league_entries(runs, args.fixed)
    config = entries[0].config
    game = args.game or (config.games.names[0] if config is not None else "kuhn_poker")
    out = Path(args.out) if args.out else runs[0] / "league"
    if args.exact:
        _exact_league(entries, game, args, out)
        return
    result = run_league(entries, game, matches=args.matches, seed=args.seed, settings=_entry_settings(args),
                        concurrency=args.concurrency, progress=True)
    from sparring.progress import console

    print_league(result, console)
    for path in result.save(out):
        console.print(f"wrote {path}")


def _entry_settings(args: argparse.Namespace):
    """A league entry's LM options and match rules: its own run's settings (the flags override them all)."""
    def settings(entry):
        return _lm_options(args, entry.config), _rules(entry.config, args.answer_format)

    return settings


def _exact_league(entries: list, game: str, args: argparse.Namespace, out: Path) -> None:
    """Each entry's strategy read with its own run's settings (`_entry_settings`)."""
    from sparring.evaluation.exact_league import print_exact_league, run_exact_league
    from sparring.progress import console

    with console.status("reading strategies") as status:
        result = run_exact_league(entries, game, _entry_settings(args),
                                  on_entry=lambda name: status.update(f"reading the strategy of {name}"))
    print_exact_league(result, console, args.tolerance)
    for path in result.save(out):
        console.print(f"wrote {path}")


def cmd_plot(args: argparse.Namespace) -> None:
    from sparring.evaluation.plots import plot_run

    for path in plot_run(args.run_dir, args.out):
        print(f"wrote {path}")


def cmd_replay(args: argparse.Namespace) -> None:
    from sparring.evaluation.replay import load_transcripts, replay, write_html

    records = load_transcripts(args.file)
    if args.html:
        print(f"wrote {write_html(records, args.html, title=f'Transcripts: {Path(args.file).name}')}")
    if args.match is not None or not args.html:
        replay(records, match=args.match or 0, prompts=not args.no_prompts)


def _add_lm_flags(parser: argparse.ArgumentParser) -> None:
    from sparring.cli.api_flags import add_api_flags

    parser.add_argument("--template", default=None, help="prompt template (default: the run's, else short)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the run's, else 32")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature (default: the run's, else 1.0)")
    parser.add_argument("--answer-format", default=None, choices=["boxed", "bracket"], help="default: the run's, else boxed")
    parser.add_argument("--backend", default=None, choices=["hf", "vllm"], help="generation engine (default: the run's, else hf)")
    parser.add_argument("--moves", default=None, choices=["free", "legal"],
                        help="write answers (free) or sample among the legal moves' answers (default: the run's, else free)")
    parser.add_argument("--concurrency", type=int, default=32, help="matches played at once")
    parser.add_argument("--seed", type=int, default=0)
    add_api_flags(parser)


def _evaluate_critic(args: argparse.Namespace, target: Target, config: Any, games: list[str]) -> list[str]:
    """sneaky_critic is scored as its critic on held-out items (ProcessBench-style F1, `--items` of
    them); the other games are left for `evaluate`."""
    if "sneaky_critic" not in games:
        return games
    from sparring.evaluation.critic_eval import evaluate_critic, format_critic_report
    from sparring.players import make_player
    from sparring.progress import console

    critic = make_player(target.spec, seed=args.seed, **_lm_options(args, config))
    report = evaluate_critic(critic, items=args.items, seed=args.seed, rules=_rules(config, args.answer_format),
                             concurrency=args.concurrency,
                             max_digits=args.max_digits or (config.judged.max_digits if config is not None else 2))
    console.print(format_critic_report(report))
    if target.run_dir is not None and not args.no_save:
        from sparring.evaluation.evaluate import append_rows

        append_rows(target.run_dir / "eval.jsonl", [{"step": target.step, "game": "sneaky_critic", **report}])
    return [g for g in games if g != "sneaky_critic"]


def add_eval_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `eval`, `league`, `plot` and `replay` on the `sparring` subparsers."""
    ev = subparsers.add_parser(
        "eval", help="evaluate a run's latest checkpoint (or any model) against fixed players",
        description="Win/draw/loss/invalid rates with 95% Wilson intervals from every seat, and exact "
                    "exploitability on kuhn_poker and leduc_poker; with --suite transfer, held-out games and "
                    "reasoning tasks with paired deltas against the initial model. Given a run directory, rows "
                    "are appended to RUN_DIR/eval.jsonl.")
    ev.add_argument("target", metavar="RUN_OR_CHECKPOINT",
                    help="a run dir (its latest checkpoint), a checkpoint or model dir, default, tiny, or lm:SPEC")
    ev.add_argument("--games", nargs="+", help="games (default: the run's games, else kuhn_poker)")
    ev.add_argument("--opponents", nargs="+",
                    help="opponents (default per game: random; cfr on poker; mcts:100 on perfect-information games; "
                         "minimax on tic_tac_toe); ones that cannot play a game are skipped")
    ev.add_argument("--initial", metavar="SPEC", help="also play this player, e.g. lm:default (the untrained model)")
    ev.add_argument("--matches", type=int, default=32, help="matches per (game, opponent), seats alternating")
    ev.add_argument("--mode", default="likelihood", choices=["likelihood", "sample"], help="how exploitability reads the model")
    ev.add_argument("--samples", type=int, default=8, help="answers per information state in sample mode")
    ev.add_argument("--no-exploitability", action="store_true", help="skip exploitability")
    ev.add_argument("--no-save", action="store_true", help="do not append to RUN_DIR/eval.jsonl")
    ev.add_argument("--out", help="write the evaluation matches as JSONL transcripts into this folder")
    ev.add_argument("--suite", default="games", choices=["games", "transfer"],
                    help="games: rates on the run's games (default); transfer: held-out games (--games overrides "
                         "them) and reasoning tasks, each with a paired delta vs --reference")
    ev.add_argument("--tasks", nargs="+", metavar="TASK",
                    help="transfer: reasoning-gym tasks (default: chain_sum basic_arithmetic leg_counting "
                         "letter_counting spell_backward word_sorting propositional_logic countdown)")
    ev.add_argument("--items", type=int, default=32,
                    help="transfer: items per task; sneaky_critic: held-out items the critic judges")
    ev.add_argument("--max-digits", type=int, default=None,
                    help="sneaky_critic: reasoning-gym's max_digits of the held-out problems (default: the run's "
                         "judged.max_digits, else 2)")
    ev.add_argument("--task-tokens", type=int, default=32, help="transfer: max new tokens per task answer")
    ev.add_argument("--sampled", action="store_true",
                    help="transfer: sample at --temperature from a fixed seed (default: greedy)")
    ev.add_argument("--reference", default="initial",
                    help="transfer: the model deltas are taken against: a model spec, initial (the run's initial model, "
                         "the default) or none")
    _add_lm_flags(ev)
    ev.set_defaults(run=cmd_eval)

    league = subparsers.add_parser(
        "league", help="every checkpoint of some runs plays every other; Elo/OpenSkill and a cross-play heatmap")
    league.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    league.add_argument("--fixed", nargs="*", default=[], help="fixed players to include, e.g. random cfr")
    league.add_argument("--game", help="game (default: the first run's first game)")
    league.add_argument("--matches", type=int, default=20, help="matches per pair, seats alternating (a game of more than two seats: rounds, "
                        "every player plays in each)")
    league.add_argument("--out", help="folder for league.json and league_matrix.png (default: RUN_DIR/league)")
    league.add_argument("--exact", action="store_true",
                        help="Kuhn and Leduc: exact expected chips of every pair from the players' strategies, "
                             "no matches (writes league_exact.json and league_exact_matrix.png)")
    league.add_argument("--tolerance", type=float, default=0.0,
                        help="with --exact: report a later checkpoint losing more than this to an earlier one")
    _add_lm_flags(league)
    league.set_defaults(run=cmd_league)

    plot = subparsers.add_parser("plot", help="PNG plots of a run's metrics.jsonl and eval.jsonl")
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.add_argument("--out", help="folder for the PNGs (default: RUN_DIR/plots)")
    plot.set_defaults(run=cmd_plot)

    rep = subparsers.add_parser("replay", help="show a transcript match turn by turn, or all as HTML")
    rep.add_argument("file", metavar="FILE", help="a transcripts JSONL file")
    rep.add_argument("--match", type=int, help="which match to show (0-based; default 0)")
    rep.add_argument("--html", metavar="OUT", help="write every match to one HTML page")
    rep.add_argument("--no-prompts", action="store_true", help="hide the prompts")
    rep.set_defaults(run=cmd_replay)
