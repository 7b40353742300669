"""The policy's weights as a worker needs them: the adapter state under LoRA, else the full state dict."""

from __future__ import annotations

from typing import Any

import torch

from sparring.errors import SparringError
from sparring.training.adapters import adapter_snapshot, is_lora


def policy_weights(model: Any) -> dict[str, torch.Tensor]:
    """CPU copies of what changes when the learner steps: LoRA adapters, or every weight."""
    if is_lora(model):
        return adapter_snapshot(model)
    return {key: value.detach().to("cpu", copy=True) for key, value in model.state_dict().items()}


def load_policy_weights(model: Any, weights: dict[str, torch.Tensor]) -> None:
    """Overwrite a worker's copy of the policy with :func:`policy_weights` of the learner's."""
    if not is_lora(model):
        model.load_state_dict(weights)
        return
    from peft import set_peft_model_state_dict

    loaded = set_peft_model_state_dict(model, weights, adapter_name=model.active_adapter)
    if loaded.unexpected_keys:
        raise SparringError(f"the learner's adapter does not fit a worker's model ({len(loaded.unexpected_keys)} "
                            f"unexpected tensors, e.g. {loaded.unexpected_keys[0]})")
