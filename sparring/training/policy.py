"""The policy being trained: a model from `model.name`, optionally wrapped with LoRA adapters."""

from __future__ import annotations

from pathlib import Path

from sparring.config import ModelConfig
from sparring.errors import SparringError
from sparring.model import load_model


def policy_device(name: str):
    """The torch device of `model.device`, or a one-line error when this machine has no such device."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise SparringError(f"model.device={name!r} is not a device name (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SparringError(f"model.device={name} but torch sees no CUDA device here (use model.device=cpu)")
    if device.type not in ("cpu", "cuda"):
        raise SparringError(f"model.device={name}: sparring runs on cpu or cuda")
    return device


def build_policy(cfg: ModelConfig, checkpoint_model: Path | None = None):
    """(model, tokenizer) ready to train: fresh, or restored from a checkpoint's `model/` folder."""
    from peft import LoraConfig, PeftModel, get_peft_model

    device = policy_device(cfg.device)
    if checkpoint_model is not None and not cfg.lora:
        model, tokenizer = load_model(str(checkpoint_model))
        model.to(device).train()
        return model, tokenizer
    model, tokenizer = load_model(cfg.name)
    if cfg.lora:
        if checkpoint_model is not None:
            model = PeftModel.from_pretrained(model, str(checkpoint_model), is_trainable=True)
        else:
            lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                              target_modules=list(cfg.lora_targets), task_type="CAUSAL_LM")
            model = get_peft_model(model, lora)
    model.to(device).train()
    return model, tokenizer
