"""The policy being trained: a model from `model.name`, optionally wrapped with LoRA adapters."""

from __future__ import annotations

from collections.abc import Sequence
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


def lora_config(cfg: ModelConfig):
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_targets), task_type="CAUSAL_LM")


def build_policy(cfg: ModelConfig, checkpoint_model: Path | None = None, roles: Sequence[str] = ()):
    """(model, tokenizer) ready to train: fresh, or restored from a checkpoint's `model/` folder. With
    `cfg.adapters_per_role` the model gets one LoRA adapter per role, named after it (the first active)."""
    from peft import PeftModel, get_peft_model

    device = policy_device(cfg.device)
    if checkpoint_model is not None and not cfg.lora:
        model, tokenizer = load_model(str(checkpoint_model))
        model.to(device).train()
        return model, tokenizer
    model, tokenizer = load_model(cfg.name)
    if cfg.lora and cfg.adapters_per_role:
        model = role_adapters(model, cfg, checkpoint_model, roles)
    elif cfg.lora:
        if checkpoint_model is not None:
            model = PeftModel.from_pretrained(model, str(checkpoint_model), is_trainable=True)
        else:
            model = get_peft_model(model, lora_config(cfg))
    model.to(device).train()
    return model, tokenizer


def role_adapters(model, cfg: ModelConfig, checkpoint_model: Path | None, roles: Sequence[str]):
    """The base model with one LoRA adapter per role: fresh, or each loaded from its folder
    (`save_pretrained` writes an adapter not named "default" into a folder of its name)."""
    from peft import PeftModel, get_peft_model

    if not roles:
        raise SparringError("model.adapters_per_role needs the roles of the run's games")
    if checkpoint_model is not None:
        model = PeftModel.from_pretrained(model, str(checkpoint_model / roles[0]), adapter_name=roles[0],
                                          is_trainable=True)
        for role in roles[1:]:
            model.load_adapter(str(checkpoint_model / role), adapter_name=role, is_trainable=True)
    else:
        lora = lora_config(cfg)
        model = get_peft_model(model, lora, adapter_name=roles[0])
        for role in roles[1:]:
            model.add_adapter(role, lora)
    model.set_adapter(roles[0])
    return model
