"""Rollout throughput: the batched engine against a naive one-``generate``-per-turn loop.

    python benchmarks/rollout.py                      # 32 matches of tic_tac_toe, lm:default vs random
    python benchmarks/rollout.py --matches 4          # a quick check
    python benchmarks/rollout.py --self-play --json results.json

Every configuration plays the same workload: ``--matches`` matches of ``--game`` with match
seeds ``seed, seed+1, ...``, the LM (``lm:MODEL``, sampling at ``--temperature`` with the
``--template`` prompt template, at most ``--max-new-tokens`` per answer) in seat 0 and a random
player in seat 1 (seeded per match: ``seed + i``), or the LM in both seats with ``--self-play``.
``torch.manual_seed(seed)`` is set just before each configuration's timed part. Matches are
refereed by the same ``sparring.games`` Match objects (same rules, same parser) everywhere.

Configurations:

- ``naive``: what a user writes with TextArena and transformers. A plain loop over matches, one
  after another; every LM turn is ``tokenizer(prompt)`` then ``model.generate`` on that one
  prompt, then the text goes to ``Match.submit``. Same prompt text (``LMPlayer.render``, so the
  same token count), same sampling (``do_sample=True``, same temperature, ``top_k=0`` and
  ``top_p=1`` so it samples the same full distribution as the engine), same ``max_new_tokens``.
  Stopping rule: end of sequence (the model's ``eos_token_id``, ``<|im_end|>`` for SmolLM2) or
  ``max_new_tokens``, transformers' default and what a user gets without writing a custom
  ``StoppingCriteria``. It is not handicapped otherwise: it records no log-probs (the engine
  does) and pads nothing. With the ``short`` template SmolLM2 often keeps writing after the
  closing brace (``0} \\end{skipif}``) until ``max_new_tokens``, so it generates more tokens per
  answer than the engine, which stops at the brace (about 7.6 against 2.0 in a small run): a
  real advantage of the engine, kept visible by reporting both tokens/s and actions/s.
  ``--naive-stop answer`` adds transformers' ``stop_strings`` on the answer's closing character:
  a stronger baseline that stops as early as the engine, isolating what batching alone gains.
- ``engine@C``: ``sparring.players.rollout.Rollout(C).play`` with an ``LMPlayer``: every pending LM turn
  of up to C live matches goes into one batched ``generate`` per round (C is capped by
  ``--matches``; the table shows the effective value).
- ``vllm@C``: the same engine with the LMPlayer on the vLLM backend (``rollout.backend=vllm``:
  in-process vLLM, fp32, prefix caching); its engine start-up is outside the timed part, like model
  loading. Left out with ``--no-vllm``.

Counting, identical for both: an *action* is one LM turn (one answer submitted to a match,
valid or not); *generated tokens* are the tokens the model produced for that answer, up to and
including its stop token (EOS or, for the engine, the closing brace), never padding. Wall time
covers the whole workload (prompt rendering, tokenising, generation, parsing, refereeing) after
the model is loaded and one warm-up ``generate`` of the same shape has run.

Each configuration runs in a fresh subprocess (same interpreter, same torch thread count), so
its memory is its own: ``peak RSS`` is the process's ``ru_maxrss`` (model loading included);
``run +MB`` is how far the resident set rose above its level at the start of the timed part
(Linux ``VmHWM`` after resetting it through ``/proc/self/clear_refs``), i.e. what the batch,
KV cache and activations cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 8.0  # the target: the engine at 32 concurrent matches vs the naive loop
TARGET_CONCURRENCY = 32


# ----------------------------------------------------------------------------- memory


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset Linux's VmHWM to the current RSS; False where that is unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _ru_maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20  # macOS reports bytes


# ----------------------------------------------------------------------------- one configuration


def _players(args: argparse.Namespace, lm: Any, index: int) -> list[Any]:
    from sparring.players.fixed import RandomPlayer

    return [lm, lm] if args.self_play else [lm, RandomPlayer(seed=args.seed + index)]


def _naive_generate_kwargs(args: argparse.Namespace, lm: Any, rules: Any) -> dict[str, Any]:
    """The naive loop's generate arguments: the engine's sampling, transformers' default stopping."""
    kwargs: dict[str, Any] = dict(
        do_sample=True,
        temperature=args.temperature,
        top_k=0,  # transformers would otherwise default to top-k 50; the engine samples the full distribution
        top_p=1.0,
        max_new_tokens=args.max_new_tokens,
        pad_token_id=lm.tokenizer.pad_token_id,  # only silences the "setting pad_token_id" warning
    )
    if args.naive_stop == "answer":  # transformers' built-in stop strings: the answer's closing character
        kwargs.update(stop_strings=["}" if rules.answer_format == "boxed" else "]"], tokenizer=lm.tokenizer)
    return kwargs


def _run_naive(args: argparse.Namespace, game: Any, rules: Any, lm: Any) -> list[Any]:
    """One match after another; each LM turn is one tokenizer call and one generate call."""
    import torch

    model, tokenizer = lm.model, lm.tokenizer
    model.eval()
    sampling = _naive_generate_kwargs(args, lm, rules)
    matches = []
    for i in range(args.matches):
        players = _players(args, lm, i)
        match = game.new_match(args.seed + i, rules)
        while not match.is_over():
            player = players[match.current_seat()]
            observation = match.observe()
            if player is not lm:
                match.submit(player.act(observation), prompt=observation.prompt)
                continue
            prompt = lm.render(observation)  # the engine's exact prompt text
            inputs = tokenizer(prompt, return_tensors="pt")
            started = time.perf_counter()
            with torch.no_grad():
                output = model.generate(**inputs, **sampling)
            lm.generation_seconds += time.perf_counter() - started
            new_tokens = output[0, inputs["input_ids"].shape[1]:]
            # The short template pre-fills "\boxed{" in the prompt; the answer text starts with it.
            text = _prefix(lm, observation) + tokenizer.decode(new_tokens, skip_special_tokens=True)
            match.submit(text, prompt=observation.prompt, num_tokens=int(new_tokens.shape[0]),
                         prompt_tokens=int(inputs["input_ids"].shape[1]))
        matches.append(match)
    return matches


def _prefix(lm: Any, observation: Any) -> str:
    from sparring.games.templates import answer_prefix

    return answer_prefix(lm.template, observation.answer_format)


def _run_engine(args: argparse.Namespace, game: Any, rules: Any, lm: Any, concurrency: int) -> list[Any]:
    from sparring.players.rollout import MatchSpec, Rollout

    def spec(i: int) -> MatchSpec:
        return MatchSpec(game, _players(args, lm, i), args.seed + i, rules)

    return [played.match for played in Rollout(concurrency).play(spec, num_matches=args.matches)]


def _count_calls(lm: Any) -> list[int]:
    """Wrap ``lm.act_batch`` (on the instance only) to record each call's batch size."""
    sizes: list[int] = []
    act_batch = lm.act_batch

    def counted(observations: list[Any]) -> list[Any]:
        sizes.append(len(observations))
        return act_batch(observations)

    lm.act_batch = counted
    return sizes


def _warm_up(args: argparse.Namespace, game: Any, rules: Any, lm: Any, batch: int) -> None:
    """One generate of the configuration's batch size on a match outside the workload."""
    import torch

    observation = game.new_match(args.seed + 10**6, rules).observe()
    if batch == 0:
        inputs = lm.tokenizer(lm.render(observation), return_tensors="pt")
        with torch.no_grad():
            lm.model.generate(**inputs, **_naive_generate_kwargs(args, lm, rules))
    else:
        lm.act_batch([observation] * batch)
    lm.tokens_generated, lm.generation_seconds = 0, 0.0


def run_configuration(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Load the model, warm up, time the workload; everything one table row needs."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from sparring.games import TRAINING_RULES, make_game
    from sparring.players.lm import LMPlayer
    from sparring.model import load_model

    model, tokenizer = load_model(args.model)
    lm = LMPlayer(model, tokenizer, template=args.template, max_new_tokens=args.max_new_tokens,
                  temperature=args.temperature, name=f"lm:{args.model}",
                  backend="vllm" if name.startswith("vllm@") else "hf")
    game = make_game(args.game)
    rules = TRAINING_RULES
    concurrency = 0 if name == "naive" else int(name.split("@")[1])
    effective = min(concurrency, args.matches)
    _warm_up(args, game, rules, lm, effective)

    batch_sizes = _count_calls(lm)
    rss_start_kb = _status_kb("VmRSS")
    resettable = _reset_peak_rss()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    if name == "naive":
        matches = _run_naive(args, game, rules, lm)
    else:
        matches = _run_engine(args, game, rules, lm, concurrency)
    wall = time.perf_counter() - started
    hwm_kb = _status_kb("VmHWM")

    lm_turns = [t for m in matches for t in m.turns if "num_tokens" in t.extra]
    actions = len(lm_turns)
    tokens = sum(t.extra["num_tokens"] for t in lm_turns)
    prompt_tokens = sum(t.extra.get("prompt_tokens", len(t.extra.get("prompt_ids", ()))) for t in lm_turns)
    invalid = sum(not t.valid for t in lm_turns)
    return {
        "config": name,
        "concurrency": effective if concurrency else None,
        "matches": len(matches),
        "actions": actions,
        "tokens": tokens,
        "invalid_actions": invalid,
        "wall_s": wall,
        "actions_per_s": actions / wall,
        "tokens_per_s": tokens / wall,
        "tokens_per_action": tokens / max(1, actions),
        "prompt_tokens_per_action": prompt_tokens / max(1, actions),
        "generate_s": lm.generation_seconds,
        "generate_calls": actions if name == "naive" else len(batch_sizes),
        "mean_batch": 1.0 if name == "naive" else sum(batch_sizes) / max(1, len(batch_sizes)),
        "peak_rss_mb": _ru_maxrss_mb(),
        "run_rss_increase_mb": (hwm_kb - rss_start_kb) / 1024 if resettable and hwm_kb and rss_start_kb else None,
        "torch_threads": torch.get_num_threads(),
    }


# ----------------------------------------------------------------------------- driver


def machine() -> dict[str, Any]:
    import torch
    import transformers

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _worker_command(args: argparse.Namespace, name: str) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
               "--matches", str(args.matches), "--game", args.game, "--model", args.model,
               "--template", args.template, "--max-new-tokens", str(args.max_new_tokens),
               "--temperature", str(args.temperature), "--seed", str(args.seed)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.self_play:
        command.append("--self-play")
    command += ["--naive-stop", args.naive_stop]
    return command


def run_in_subprocess(args: argparse.Namespace, name: str) -> dict[str, Any]:
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "TQDM_DISABLE": "1"}
    done = subprocess.run(_worker_command(args, name), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"configuration {name} failed (exit code {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_report(settings: dict[str, Any], info: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # a pipe or file: do not squeeze the table to 80 columns
    console.print(f"machine: {info['cpu']}; {info['cores']} cores ({info['usable_cores']} usable), "
                  f"torch {info['torch']} with {rows[0]['torch_threads']} threads, transformers "
                  f"{info['transformers']}, python {info['python']}; load average {info['load_average_1m']:.2f}")
    console.print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))

    naive = next((r for r in rows if r["config"] == "naive"), None)
    ratios: dict[str, dict[str, float]] = {}
    table = Table(title="rollout throughput (each row: a fresh process, the same matches)")
    for column in ("config", "matches", "LM actions", "gen calls", "invalid", "prompt tok", "tok/action", "actions/s", "tok/s",
                   "wall s", "in generate s", "peak RSS MB", "run +MB", "actions/s vs naive", "tok/s vs naive"):
        table.add_column(column, justify="left" if column == "config" else "right")
    for row in rows:
        label = row["config"] if row["concurrency"] is None or row["config"].endswith(f"@{row['concurrency']}") \
            else f"{row['config']} (runs {row['concurrency']})"
        ratio_a = row["actions_per_s"] / naive["actions_per_s"] if naive else None
        ratio_t = row["tokens_per_s"] / naive["tokens_per_s"] if naive else None
        if naive:
            ratios[row["config"]] = {"actions_per_s": ratio_a, "tokens_per_s": ratio_t}
        increase = row["run_rss_increase_mb"]
        table.add_row(label, str(row["matches"]), str(row["actions"]), str(row["generate_calls"]),
                      str(row["invalid_actions"]), f"{row['prompt_tokens_per_action']:.0f}",
                      f"{row['tokens_per_action']:.2f}", f"{row['actions_per_s']:.2f}", f"{row['tokens_per_s']:.1f}",
                      f"{row['wall_s']:.1f}", f"{row['generate_s']:.1f}", f"{row['peak_rss_mb']:.0f}",
                      "-" if increase is None else f"{increase:.0f}",
                      "-" if ratio_a is None else f"{ratio_a:.2f}x", "-" if ratio_t is None else f"{ratio_t:.2f}x")
    console.print(table)

    for target in (f"engine@{TARGET_CONCURRENCY}", f"vllm@{TARGET_CONCURRENCY}"):
        report_target(console, naive, ratios, next((r for r in rows if r["config"] == target), None))
    return ratios


def report_target(console: Any, naive: dict | None, ratios: dict, target_row: dict | None) -> None:
    if naive and target_row:
        ratio = ratios[target_row["config"]]["actions_per_s"]
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        note = "" if target_row["concurrency"] == TARGET_CONCURRENCY else \
            f" (only {target_row['concurrency']} matches were live: use --matches {TARGET_CONCURRENCY} or more)"
        console.print(f"target: {target_row['config']} >= {TARGET_RATIO:g}x the naive loop in actions/s: "
                      f"{ratio:.2f}x, {verdict}{note}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matches", type=int, default=32, help="matches per configuration (default 32)")
    parser.add_argument("--game", default="tic_tac_toe", help="game name (default tic_tac_toe)")
    parser.add_argument("--model", default="default", help="model for the lm: player (default: SmolLM2-135M)")
    parser.add_argument("--template", default="short", help="prompt template (default short)")
    parser.add_argument("--max-new-tokens", type=int, default=8, help="generation cap per answer (default 8)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    parser.add_argument("--concurrency", default="1,8,32",
                        help="engine concurrencies, comma-separated (default 1,8,32)")
    parser.add_argument("--naive-stop", choices=("eos", "answer"), default="eos",
                        help="the naive loop's stopping rule: eos (default: end of sequence or max tokens, "
                             "what generate does by default) or answer (also transformers' stop_strings on "
                             "the answer's closing character: a stronger baseline, as early as the engine)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive loop")
    parser.add_argument("--no-vllm", action="store_true", help="skip the vLLM row")
    parser.add_argument("--self-play", action="store_true", help="the LM in both seats (default: LM vs random)")
    parser.add_argument("--seed", type=int, default=0, help="match seeds start here; torch seed (default 0)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own choice)")
    parser.add_argument("--json", type=Path, help="also write settings, machine and results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = parser.parse_args(argv)
    if args.matches < 1:
        parser.error("--matches must be at least 1")
    try:
        args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes whole numbers separated by commas, e.g. 1,8,32")
    if any(c < 1 for c in args.concurrency):
        parser.error("--concurrency values must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_configuration(args, args.worker)))
        return 0

    settings = {
        "game": args.game,
        "matches": args.matches,
        "seats": "lm vs lm" if args.self_play else "lm vs random",
        "model": args.model,
        "template": args.template,
        "temperature": args.temperature,
        "max_new_tokens": args.max_new_tokens,
        "naive_stop": args.naive_stop,
        "seed": args.seed,
    }
    info = machine()
    load = info["load_average_1m"]
    if load is not None and load > 0.5:
        print(f"warning: load average {load:.2f} on {info['usable_cores']} cores before starting: other work "
              "competes for the CPU and the numbers will be slow and noisy (with 2+ torch threads on a "
              "busy machine, very slow: try --threads 1)", file=sys.stderr, flush=True)
    names = ([] if args.no_naive else ["naive"]) + [f"engine@{c}" for c in args.concurrency]
    names += [] if args.no_vllm else [f"vllm@{TARGET_CONCURRENCY}"]
    rows = []
    for name in names:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append(run_in_subprocess(args, name))
        print(f"  {name}: {rows[-1]['wall_s']:.1f} s timed, {time.perf_counter() - started:.1f} s with loading",
              file=sys.stderr, flush=True)
    ratios = print_report(settings, info, rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": settings, "machine": info, "results": rows,
                                         "ratios_vs_naive": ratios}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
