"""LoRA adapter states played through the policy's own model: snapshot the trainable adapter, run a
body with other adapter weights active in a second slot, delete that slot before saving.

The opponent pool's snapshots, the learner's moving magnets and the average policy are all such states.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from sparring.errors import SparringError

# The peft adapter slots other weights are scored in beside the trainable adapter; none is ever saved.
OPPONENT_ADAPTER = "opponent"  # a pool snapshot played as an opponent
MAGNET_ADAPTER = "magnet"  # a moving magnet's weights, scored by the magnet KL
ITERATE_ADAPTER = "iterate"  # the preference losses' iterate pi_t
AVERAGE_ADAPTER = "average"  # the average policy (also its checkpoint folder)
SLOTS = (OPPONENT_ADAPTER, MAGNET_ADAPTER, ITERATE_ADAPTER, AVERAGE_ADAPTER)
NEEDS_LORA = "the opponent pool's snapshots need LoRA (model.lora=true); with full fine-tuning use pool.rule=latest"


def is_lora(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "set_adapter")


def adapter_snapshot(model: Any) -> dict[str, torch.Tensor]:
    """A CPU copy of the active adapter's weights, keyed as ``get_peft_model_state_dict`` keys them."""
    if not is_lora(model):
        raise SparringError(NEEDS_LORA)
    from peft import get_peft_model_state_dict

    weights = get_peft_model_state_dict(model, adapter_name=model.active_adapter, save_embedding_layers=False)
    return {key: value.detach().to("cpu", copy=True) for key, value in weights.items()}


def _slot_parameters(model: Any, slot: str) -> dict[str, torch.nn.Parameter]:
    """The slot adapter's parameters keyed like a snapshot (peft drops ``.{adapter}`` from names)."""
    marker = f".{slot}"
    return {name.replace(marker, ""): p for name, p in model.named_parameters()
            if f"{marker}." in name or name.endswith(marker)}


def _cuda_devices(model: Any) -> list[int]:
    return sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})


@contextlib.contextmanager
def opponent_adapter(model: Any, weights: Mapping[str, torch.Tensor], slot: str = OPPONENT_ADAPTER) -> Iterator[None]:
    """Run the body with ``weights`` active in adapter ``slot`` of the peft ``model``.

    The slot is created on first use (a copy of the active adapter's config, inference mode,
    created without touching torch's RNG), then its weights are overwritten in place. On exit,
    also on exceptions, the previously active adapter is re-activated and every parameter's
    ``requires_grad`` is restored; the trainable adapter's weights are never written.
    """
    if not is_lora(model):
        raise SparringError(NEEDS_LORA)
    previous = model.active_adapter
    if previous == slot:
        raise SparringError(f"adapter slot {slot!r} is the active (trainable) adapter; use another slot name")
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        if slot not in model.peft_config:
            config = copy.deepcopy(model.peft_config[previous])
            config.inference_mode = True
            with torch.random.fork_rng(devices=_cuda_devices(model)):  # LoRA init must not move the sampling RNG
                model.add_adapter(slot, config)
        params = _slot_parameters(model, slot)
        if set(params) != set(weights):
            raise SparringError(f"a snapshot does not match the policy's LoRA adapters ({len(weights)} tensors vs "
                                f"{len(params)}): were lora_r or lora_targets changed?")
        with torch.no_grad():
            for key, param in params.items():
                if param.shape != weights[key].shape:
                    raise SparringError(f"a snapshot's {key} has shape {tuple(weights[key].shape)}, the policy's "
                                        f"adapter {tuple(param.shape)}: was lora_r changed?")
                param.copy_(weights[key])
        model.set_adapter(slot, inference_mode=True)
        yield
    finally:
        if model.active_adapter != previous:
            model.set_adapter(previous)
        for p, flag in flags:
            p.requires_grad_(flag)


def remove_opponent_adapter(model: Any, slot: str = OPPONENT_ADAPTER) -> None:
    """Delete the snapshot slot (if any), e.g. before ``save_pretrained``, so only the policy is saved."""
    if is_lora(model) and slot in model.peft_config and model.active_adapter != slot:
        flags = [(p, p.requires_grad) for p in model.parameters()]
        model.delete_adapter(slot)
        for p, flag in flags:
            p.requires_grad_(flag)


def remove_slots(model: Any) -> None:
    """Delete every slot adapter, before ``save_pretrained``, so only the policy is saved."""
    for slot in SLOTS:
        remove_opponent_adapter(model, slot)


class AdapterAverage:
    """An exponential moving average of the trainable adapter's weights: ``m <- decay * m + (1 - decay) * w``.

    Starts at the adapter as it is when built; :meth:`update` folds in the adapter after a learner
    step. The "ema" magnet and the average policy (`trainer.average_decay`) are both this average.
    """

    def __init__(self, model: Any, decay: float, what: str):
        if not 0 <= decay < 1:
            raise SparringError(f"{what} must be in [0, 1), got {decay}")
        self.decay = decay
        self.weights = adapter_snapshot(model)

    def update(self, model: Any) -> None:
        now = adapter_snapshot(model)
        self.weights = {k: self.decay * self.weights[k] + (1 - self.decay) * now[k] for k in now}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.weights

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.weights = dict(state)


class Iterate:
    """The iterate ``pi_t`` of iterative preference optimisation: the trainable adapter frozen at the
    start of the current iteration, refreshed every ``every`` learner steps (0: never, so ``pi_t`` stays
    the policy as training began)."""

    def __init__(self, model: Any, every: int):
        self.every = every
        self.weights = adapter_snapshot(model)
        self.taken_at = 0  # the learner step after which the weights were taken

    def update(self, model: Any, step: int) -> None:
        if self.every and step % self.every == 0:
            self.weights, self.taken_at = adapter_snapshot(model), step

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "taken_at": self.taken_at}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.weights, self.taken_at = dict(state["weights"]), state["taken_at"]
