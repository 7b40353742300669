"""What every generation engine offers the LM player: batched generation from token ids, stopping
each row once its answer is closed, with the log-probability of every generated token; and a way
to make the engine sample from the policy's current weights.

A row stops at the first token that closes an answer in its format (``\\boxed{...}`` or
``[...]``, judged with the text the template pre-filled), at an end-of-sequence token, or at
``max_new_tokens``. Recorded log-probs are those of the distribution the token was drawn from
(after temperature; when greedy, of the untempered logits).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from sparring.games.answer import extract_answer

CLOSING = {"boxed": "}", "bracket": "]"}


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    greedy: bool = False


@dataclass(frozen=True)
class Request:
    """One row: the prompt's token ids, its answer format and what the template pre-filled."""

    prompt_ids: list[int]
    answer_format: str = "boxed"
    prefix: str = ""
    adapter: str | None = None  # the LoRA adapter that answers this row (per-role adapters); None: the active one


@dataclass
class Generated:
    completion_ids: list[int]  # up to and including the stop token
    logprobs: list[float]  # one per completion token
    stop: str  # "answer", "eos" or "length"


def answer_closed(tokenizer: Any, request: Request, completion_ids: list[int]) -> bool:
    """Whether the completion so far holds a closed answer in the request's format."""
    text = request.prefix + tokenizer.decode(completion_ids, skip_special_tokens=True)
    return extract_answer(text, request.answer_format) is not None


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The end-of-sequence ids of the tokenizer and of the model's generation config."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos:
        ids.update(int(i) for i in config_eos)
    return ids


class Backend(ABC):
    """A generation engine for one model."""

    name: str

    @abstractmethod
    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generated]:
        """One completion per request, in order."""

    def sync(self) -> None:
        """Make the engine sample from the model's current weights (a no-op where it shares them)."""
