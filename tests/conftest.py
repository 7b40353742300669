"""Shared fixtures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

# Tiny layers run faster on one thread, and the suite must not fight other work for both cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer): the random tiny Llama with SmolLM2's tokenizer, built offline once."""
    from sparring.model import tiny_model

    return tiny_model(seed=0)


@pytest.fixture
def load_script():
    """Import a file of scripts/ by its stem (e.g. "tabular_mmd"), as the tests that check a script need."""
    def load(stem: str):
        spec = importlib.util.spec_from_file_location(stem, Path(__file__).resolve().parents[1] / "scripts" / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
