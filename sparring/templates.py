"""Prompt templates: the words around a game's prompt, chosen per run and kept apart from games.

A game's prompt (``Match.prompt``) already holds the rules, the state, the legal moves and the
answer format. A template wraps it for a model:

- ``"short"``: the game prompt, then a request to answer at once with only the move. Few
  generated tokens, so it suits CPU runs and small models.
- ``"spiral"``: SPIRAL's framing (a two-player zero-sum game, make valid actions to win,
  reason step by step). SPIRAL's last sentence names ``\\boxed{}``; here it points to the
  format the game prompt states, so the template never contradicts a bracket-format game.

:func:`render_prompt` then applies the model's chat template when the tokenizer has one.
"""

from __future__ import annotations

from typing import Any

from sparring.errors import SparringError

__all__ = ["TEMPLATES", "render_prompt", "template_text"]

TEMPLATES: dict[str, str] = {
    "short": (
        "{prompt}\n"
        "Reply now with your move only, written in the required format, and nothing else."
    ),
    "spiral": (
        "You are playing a two-player zero-sum game. Make valid actions to win.\n"
        "Observation: {prompt}\n"
        "Please reason step by step, and put your final answer in the format given above."
    ),
}


def template_text(template: str, game_prompt: str) -> str:
    """The user message: the named template filled with the game's prompt."""
    if template not in TEMPLATES:
        raise SparringError(f"unknown prompt template {template!r} (choose from: {', '.join(TEMPLATES)})")
    return TEMPLATES[template].replace("{prompt}", game_prompt)


def render_prompt(tokenizer: Any, template: str, game_prompt: str) -> str:
    """The full prompt text for a model: the template, inside the chat template if there is one.

    With a chat template the text is one user message followed by the assistant's turn opener
    (``add_generation_prompt=True``); without one it is the plain template text.
    """
    text = template_text(template, game_prompt)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )
    return text
