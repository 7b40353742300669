"""sparring: train language-model agents by self-play on games."""

__version__ = "0.1.0"
