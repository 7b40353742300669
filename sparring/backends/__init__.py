"""Generation engines behind one interface (:class:`sparring.backends.base.Backend`): HF transformers
(the reference, always there) and vLLM."""

from __future__ import annotations

from typing import Any

from sparring.backends.base import Backend
from sparring.errors import unknown_name_error

BACKENDS = ("hf", "vllm")


def make_backend(name: str, model: Any, tokenizer: Any) -> Backend:
    """The named engine serving `model` (its current weights; call `sync` after each update)."""
    if name == "hf":
        from sparring.backends.hf import HFBackend

        return HFBackend(model, tokenizer)
    if name == "vllm":
        from sparring.backends.vllm import VLLMBackend

        return VLLMBackend(model, tokenizer)
    raise unknown_name_error("backend", name, list(BACKENDS))
