"""Train several configs on one budget, then run the transfer suite on each result.

    results = compare(["configs/kuhn_selfplay.yaml", "configs/kuhn_vs_random.yaml"], out="runs/compare")

Every config gets the same overrides (``--set``), its own run directory ``OUT/CONFIG_STEM`` and is
trained to its last step; configs that still differ in budget (trainer.steps, rollout.turns_per_step),
seed or initial model are refused, so the comparison is of training regimes alone. Each result is
then measured by the transfer suite on the same items (held-out games: the first-class games none of
the configs trains on) against the shared initial model, and the paired difference between the first
config and each other one is computed on those same items.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.checkpoint import checkpoint_dirs
from sparring.config import Config, load_config
from sparring.errors import SparringError
from sparring.evaluation.stats import paired_delta
from sparring.evaluation.transfer import TransferReport, held_out_games, transfer, unit_label

__all__ = ["BUDGET_FIELDS", "compare", "compare_rows", "load_configs", "print_compare"]

BUDGET_FIELDS = ("trainer.steps", "rollout.turns_per_step", "trainer.seed", "model.name")


def _field(cfg: Config, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)


def load_configs(paths: Sequence[str | Path], overrides: Sequence[str], out: str | Path) -> dict[str, Config]:
    """Each config with the shared overrides and run_dir OUT/STEM; a one-line error if budgets differ."""
    if len(paths) < 2:
        raise SparringError("compare needs at least two configs")
    configs: dict[str, Config] = {}
    for path in paths:
        stem = Path(path).stem
        if stem in configs:
            raise SparringError(f"two configs are named {stem!r}; rename one")
        configs[stem] = load_config(path, [*overrides, f"trainer.run_dir={Path(out) / stem}"])
    first_name, first = next(iter(configs.items()))
    for name, cfg in configs.items():
        for dotted in BUDGET_FIELDS:
            if _field(cfg, dotted) != _field(first, dotted):
                raise SparringError(f"{name} and {first_name} differ in {dotted} ({_field(cfg, dotted)} vs "
                                    f"{_field(first, dotted)}); pass --set {dotted}=... to give them one budget")
    return configs


def compare_rows(reports: dict[str, TransferReport]) -> list[dict[str, Any]]:
    """One row per unit and config: its mean, delta vs the reference, and vs the first config (paired)."""
    names = list(reports)
    base = reports[names[0]]
    rows = []
    for key, unit in base.measures.items():
        for name in names:
            report = reports[name]
            row = next(r for r in report.rows if (r["kind"], r["name"], r["opponent"] or "", r["seat"]) == key)
            entry = {"config": name, "unit": unit_label(row), "kind": row["kind"], "seat": row["seat"], "n": row["n"],
                     **{k: row[k] for k in ("rate", "rate_low", "rate_high", "mean", "mean_low", "mean_high")},
                     **{k: row.get(k) for k in ("ref_mean", "delta", "delta_low", "delta_high", "p_value")}}
            if name != names[0]:
                versus = paired_delta(report.measures[key].values, unit.values)
                entry.update({f"vs_first_{k}": v for k, v in versus.items()})
            rows.append(entry)
    return rows


def compare(paths: Sequence[str | Path], overrides: Sequence[str] = (), out: str | Path = "runs/compare",
            suite: dict[str, Any] | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Train each config, run the transfer suite on its last checkpoint; return compare_rows (also OUT/compare.json).

    suite: keyword arguments for :func:`sparring.evaluation.transfer.transfer` (tasks, items, games, matches...).
    """
    from sparring.training.trainer import train

    configs = load_configs(paths, overrides, out)
    suite = dict(suite or {})
    if suite.get("games") is None:
        trained = {name for cfg in configs.values() for name in cfg.games.names}
        suite["games"] = held_out_games(sorted(trained))
    reports: dict[str, TransferReport] = {}
    for name, cfg in configs.items():
        run_dir = train(cfg)
        found = [c for c in checkpoint_dirs(run_dir) if (c / "model").is_dir()]
        if not found:
            raise SparringError(f"{run_dir} saved no checkpoint")
        reports[name] = transfer(f"lm:{found[-1] / 'model'}", cfg, run_dir=run_dir, step=cfg.trainer.steps,
                                 progress=progress, **suite)
    rows = compare_rows(reports)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "compare.json").write_text(json.dumps(rows, indent=1))
    return rows


def print_compare(rows: list[dict[str, Any]], console=None) -> None:
    """The comparison as one rich table: per unit, each config's mean and its paired deltas."""
    from rich import box
    from rich.table import Table

    from sparring.progress import console as shared_console

    console = console or shared_console
    first = rows[0]["config"]
    table = Table(title="transfer after training: mean score (task) or return (game, all seats) ±95% CI; "
                        f"paired deltas ±95% CI with sign-test p, vs the initial model and vs {first}",
                  box=box.SIMPLE_HEAD)
    for column in ("unit", "n", "initial", "config", "hit %", "mean", "vs initial", "p", f"vs {first}", "p "):
        table.add_column(column, justify="left" if column in ("unit", "config") else "right", no_wrap=True)
    shown = [r for r in rows if r["kind"] == "task" or r["seat"] == "all"]
    for k, row in enumerate(shown):
        lead = k == 0 or shown[k - 1]["unit"] != row["unit"]
        versus = (f"{row['vs_first_delta']:+.2f} ±{(row['vs_first_delta_high'] - row['vs_first_delta_low']) / 2:.2f}",
                  f"{row['vs_first_p_value']:.2f}") if "vs_first_delta" in row else ("-", "-")
        table.add_row(row["unit"] if lead else "", str(row["n"]) if lead else "",
                      f"{row['ref_mean']:+.2f}" if lead and row["ref_mean"] is not None else "",
                      row["config"], f"{100 * row['rate']:.0f} [{100 * row['rate_low']:.0f}-{100 * row['rate_high']:.0f}]",
                      f"{row['mean']:+.2f} ±{(row['mean_high'] - row['mean_low']) / 2:.2f}",
                      f"{row['delta']:+.2f} ±{(row['delta_high'] - row['delta_low']) / 2:.2f}"
                      if row["delta"] is not None else "-",
                      f"{row['p_value']:.2f}" if row["p_value"] is not None else "-", *versus,
                      end_section=k + 1 < len(shown) and shown[k + 1]["unit"] != row["unit"])
    console.print(table, width=max(console.width, 150))  # logs and pipes get the whole table, not ellipses
