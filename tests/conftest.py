"""Shared fixtures."""

from __future__ import annotations

import pytest
import torch

# Tiny layers run faster on one thread, and the suite must not fight other work for both cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer): the random tiny Llama with SmolLM2's tokenizer, built offline once."""
    from sparring.model import tiny_model

    return tiny_model(seed=0)
