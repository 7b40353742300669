"""Prompt templates: the words around a game's prompt, chosen per run and kept apart from games.

A game's prompt (``Match.prompt``) already holds the rules, the state, the legal moves and the
answer format. A template wraps it for a model:

- ``"short"``: the game prompt alone, and the reply pre-filled with the answer opener
  (``\\boxed{`` or ``[``), so the model writes just the move and the closing brace. A handful of
  generated tokens: it suits CPU runs and small models (SmolLM2-135M answers legally this way
  and almost never without it).
- ``"spiral"``: SPIRAL's framing (a two-player zero-sum game, make valid actions to win,
  reason step by step). SPIRAL's last sentence names ``\\boxed{}``; here it points to the
  format the game prompt states, so the template never contradicts a bracket-format game.

A task (a one-seat game such as a reasoning-gym item, ``LanguageGame.is_task``) is no game against
anyone, so each template has a second text for tasks (``task_text``): "short" again shows the
question alone and pre-fills the answer opener; "spiral" asks to reason step by step first.

:func:`render_prompt` then applies the model's chat template when the tokenizer has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sparring.errors import SparringError
from sparring.games.answer import answer_closer, answer_opener, format_answer

__all__ = ["TEMPLATES", "Template", "answer_ids", "answer_prefix", "answer_text", "render_prompt", "reply_ids", "template_text"]

@dataclass(frozen=True)
class Template:
    """The user message around a game prompt, and whether the reply starts with the answer opener."""

    text: str
    prefill_answer: bool  # the assistant turn begins with e.g. "\\boxed{", so the model writes only the move
    task_text: str = "{prompt}"  # the user message around a task's prompt (a question, not a game)


TEMPLATES: dict[str, Template] = {
    "short": Template("{prompt}", prefill_answer=True),
    "spiral": Template(
        "You are playing a two-player zero-sum game. Make valid actions to win.\n"
        "Observation: {prompt}\n"
        "Please reason step by step, and put your final answer in the format given above.",
        prefill_answer=False,
        task_text="Question: {prompt}\n"
                  "Please reason step by step, and put your final answer in the format given above.",
    ),
}


def _template(template: str) -> Template:
    if template not in TEMPLATES:
        raise SparringError(f"unknown prompt template {template!r} (choose from: {', '.join(TEMPLATES)})")
    return TEMPLATES[template]


def template_text(template: str, game_prompt: str, task: bool = False) -> str:
    """The user message: the named template (its task text for a task) filled with the prompt."""
    chosen = _template(template)
    return (chosen.task_text if task else chosen.text).replace("{prompt}", game_prompt)


def answer_prefix(template: str, answer_format: str) -> str:
    """What the template writes at the start of the model's reply ("" or the answer opener)."""
    return answer_opener(answer_format) if _template(template).prefill_answer else ""


def render_prompt(tokenizer: Any, template: str, game_prompt: str, answer_format: str = "boxed",
                  task: bool = False) -> str:
    """The full prompt text for a model: the template, inside the chat template if there is one,
    followed by the pre-filled start of the answer when the template has one.

    With a chat template the text is one user message followed by the assistant's turn opener
    (``add_generation_prompt=True``); without one it is the plain template text. ``task``
    selects the template's text for tasks.
    """
    text = template_text(template, game_prompt, task)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text + answer_prefix(template, answer_format)


def answer_text(template: str, answer_format: str, move: str, legal_moves: Sequence[str] = ()) -> str:
    """The text with which a model chooses ``move``: its answer minus what the template pre-fills, and minus
    the closing brace or bracket.

    The closer is punctuation, not the choice: a model that writes ``bet}.`` closes with the single
    token ``}.``, and a score that counted ``}`` would rank moves by how they are punctuated (a
    policy can then look uniform over ``pass}`` / ``bet}`` while it always writes ``bet}.``). The
    closer stays only when another of ``legal_moves`` begins with this move's text (``1`` and ``10``),
    where it is what tells them apart.
    """
    answer = format_answer(move, answer_format).removeprefix(answer_prefix(template, answer_format))
    if not any(other != move and other.startswith(move) for other in legal_moves):
        answer = answer.removesuffix(answer_closer(answer_format))
    return answer


def answer_ids(tokenizer: Any, template: str, answer_format: str, move: str, legal_moves: Sequence[str] = ()
               ) -> list[int]:
    """The tokens of :func:`answer_text`: what a model writes to choose ``move``."""
    return tokenizer(answer_text(template, answer_format, move, legal_moves), add_special_tokens=False).input_ids


def reply_ids(tokenizer: Any, template: str, answer_format: str, reply: str) -> list[int]:
    """The completion tokens of a whole written reply (``\\boxed{42}``): what follows the prompt, whose
    end holds the template's pre-filled answer opener. The closer stays: a sampled reply ends with it."""
    return tokenizer(reply.removeprefix(answer_prefix(template, answer_format)), add_special_tokens=False).input_ids
