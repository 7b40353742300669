"""sparring: train language-model agents by self-play on games."""

import os

# Model hubs are unreachable by design: never let transformers or peft try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"
