"""Checkpoints: the model in HF format plus everything else a resumed run needs, written atomically.

Layout: RUN_DIR/checkpoints/step_000010/{model/, trainer_state.pt} (plus average/ when the run keeps an
average policy). A checkpoint is written to a
temporary folder and renamed into place, so a kill during a save leaves the previous one intact.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sparring.errors import SparringError


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first."""
    root = Path(run_dir) / "checkpoints"
    return sorted(p for p in root.glob("step_*") if (p / "trainer_state.pt").exists()) if root.exists() else []


def latest_checkpoint(run_dir: Path) -> Path:
    found = checkpoint_dirs(run_dir)
    if not found:
        raise SparringError(f"no checkpoint in {run_dir} to resume from")
    return found[-1]


def rng_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_adapter(folder: Path, like: Path, weights: dict[str, torch.Tensor]) -> None:
    """A LoRA folder holding `weights`, with the config and tokenizer of the saved adapter folder `like`."""
    from safetensors.torch import save_file

    shutil.copytree(like, folder, ignore=shutil.ignore_patterns("adapter_model.*"))
    save_file({key: value.contiguous() for key, value in weights.items()}, str(folder / "adapter_model.safetensors"))


def save_checkpoint(run_dir: Path, step: int, model, tokenizer, state: dict[str, Any], keep: int,
                    adapters: dict[str, dict[str, torch.Tensor]] | None = None) -> Path:
    """Write checkpoint `step` (model via save_pretrained, `state` via torch.save), keep the last `keep`.

    `adapters` names other LoRA weights of the same model (the average policy) saved beside `model/`
    as folders of their own, each loadable like the model folder.
    """
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp_step_{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    if hasattr(model, "peft_config"):
        model.save_pretrained(tmp / "model", save_embedding_layers=False)  # adapters only
    else:
        model.save_pretrained(tmp / "model")
    tokenizer.save_pretrained(tmp / "model")
    for name, weights in (adapters or {}).items():
        save_adapter(tmp / name, tmp / "model", weights)
    torch.save({**state, "rng": rng_states()}, tmp / "trainer_state.pt")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in checkpoint_dirs(run_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(old)
    return final


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return torch.load(Path(checkpoint) / "trainer_state.pt", weights_only=False)
