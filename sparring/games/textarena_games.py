"""TextArena games as `LanguageGame`s: TextArena keeps the rules, sparring writes the prompts.

Each `Match` owns one raw TextArena environment (the ``-raw`` id: no observation wrappers, so no
history kept across resets) and closes it when the match is over. The prompt is written here from
the environment's state (board, inventories, standing offer), not from TextArena's chat log.

Moves reach TextArena only after sparring has checked them, in TextArena's bracketed form (``[4]``,
``[Offer: 3 Wheat -> 2 Wood]``); a text that names no legal move is an invalid move in the
`Match` sense and never reaches the engine. Should TextArena still reject a move (a bug in this
adapter), the turn is recorded as invalid and the match ends with the invalid-move penalty.

Seeding: TextArena draws from the global `random` module (``random.seed(seed)`` on reset). Each
match keeps its own copy of that generator state, seeded from the match's `rng`, and swaps it in
only around calls into TextArena, so playing a match never changes the caller's `random` stream
and replaying a match from its seed and answer texts reproduces it exactly.
"""

from __future__ import annotations

import random
import re
from contextlib import contextmanager
from functools import cached_property
from typing import Any, Iterator

from sparring.games.answer import extract_answer, normalise
from sparring.games.base import TRAINING_RULES, LanguageGame, Match, MatchRules, Turn

ROLES = ("player_0", "player_1")


def _textarena() -> Any:
    """The `textarena` module, imported on first use (it is slow to import and, through `rich`,
    draws from the global `random` on import: the caller's state is restored)."""
    outer = random.getstate()
    try:
        import textarena
    finally:
        random.setstate(outer)
    return textarena


class EngineRejectedMove(RuntimeError):
    """TextArena called a move invalid that sparring had accepted (an adapter bug)."""


class TextArenaMatch(Match):
    """A match on one raw TextArena two-player environment."""

    game: TextArenaGame

    def __init__(self, game: TextArenaGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self._random_state: tuple[Any, ...] | None = None
        self.closed = False
        self.engine_rejection: str | None = None
        with self._engine_random():
            self.env = _textarena().make(game.env_id)
            # TextArena seeds the global `random` with this; it is drawn from the match's own rng.
            self.env.reset(num_players=game.num_seats, seed=int(self.rng.integers(2**63)))

    @contextmanager
    def _engine_random(self) -> Iterator[None]:
        """Run TextArena on this match's own `random` state; leave the caller's untouched."""
        outer = random.getstate()
        if self._random_state is not None:
            random.setstate(self._random_state)
        try:
            yield
        finally:
            self._random_state = random.getstate()
            random.setstate(outer)

    @property
    def ta_state(self) -> Any:
        """TextArena's state object (`game_state`, `rewards`, `turn`, ...)."""
        return self.env.state

    def _engine_seat(self) -> int | None:
        if self.ta_state.done:
            return None
        return int(self.ta_state.current_player_id)

    def _engine_apply(self, move: str) -> None:
        state = self.ta_state
        seat = state.current_player_id
        with self._engine_random():
            self.env.step(self.engine_action(move))
        # TextArena marks a rejected move with an error count that only a valid move clears (one
        # error allowed: the same seat moves again) or, past the allowance, by ending the game
        # with the offender's invalid-move flag set.
        rejected = state.game_info[seat].get("invalid_move") or getattr(state, "error_count", 0) > 0
        if rejected:
            reason = state.game_info[seat].get("reason") or self._last_admin_message(seat)
            raise EngineRejectedMove(f"TextArena rejected {self.engine_action(move)!r}: {reason}")
        self.after_engine_step(seat, move)

    def _last_admin_message(self, seat: int) -> str:
        for _, message, kind in reversed(self.ta_state.observations.get(seat, [])):
            if kind.name == "GAME_ADMIN":
                return message
        return "no reason given"

    def engine_action(self, move: str) -> str:
        """The text TextArena receives for a legal move."""
        return f"[{move}]"

    def after_engine_step(self, seat: int, move: str) -> None:
        """Hook for adapters that keep their own record of the moves."""

    def _engine_returns(self) -> list[float]:
        rewards = self.ta_state.rewards or {}
        return [float(rewards.get(seat, 0)) for seat in range(self.game.num_seats)]

    def submit(self, text: str, prompt: str | None = None, **extra: Any) -> Turn:
        try:
            turn = super().submit(text, prompt, **extra)
        except EngineRejectedMove as rejected:
            # Recorded as an invalid move; the engine state may have moved on, so no retry.
            turn = self.turns[-1]
            turn.move = None
            self.engine_rejection = str(rejected)
            self._final_returns = self._invalid_returns(turn.seat)
        if self.is_over():
            self.close()
        return turn

    def close(self) -> None:
        """Close the TextArena environment (its state stays readable)."""
        if not self.closed:
            with self._engine_random():
                self.env.close()
            self.closed = True


class TextArenaGame(LanguageGame):
    """A two-player TextArena environment by id."""

    roles = ROLES
    env_id: str
    match_class: type[TextArenaMatch]

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> TextArenaMatch:
        return self.match_class(self, seed, rules)


# --- Tic-tac-toe -------------------------------------------------------------------------------


class TicTacToeMatch(TextArenaMatch):
    """Moves are the numbers of the free cells, 0-8 row by row, as TextArena numbers them."""

    MARKS = ("O", "X")  # TextArena: player 0 plays O, player 1 plays X

    @property
    def board(self) -> list[list[str]]:
        return self.ta_state.game_state["board"]

    def legal_moves(self) -> list[str]:
        if self.is_over():
            return []
        return [str(r * 3 + c) for r in range(3) for c in range(3) if not self.board[r][c]]

    def board_text(self) -> str:
        rows = []
        for r in range(3):
            cells = (self.board[r][c] or str(r * 3 + c) for c in range(3))
            rows.append("|".join(f" {cell} " for cell in cells).rstrip())
        return "\n---+---+---\n".join(rows)

    def observation_text(self, seat: int) -> str:
        mine, theirs = self.MARKS[seat], self.MARKS[1 - seat]
        return (
            f"You play {mine}; {self.role(1 - seat)} plays {theirs}. "
            "Board (free cells show their number):\n" + self.board_text()
        )


class TicTacToe(TextArenaGame):
    name = "textarena_tictactoe"
    description = "Tic-tac-toe on TextArena's TicTacToe-v0: three in a row wins."
    env_id = "TicTacToe-v0-raw"
    match_class = TicTacToeMatch
    rules_text = (
        "Two players take turns marking one empty cell of a 3x3 board; the cells are numbered 0 to 8, "
        "left to right, top row first. player_0 plays O and moves first, player_1 plays X. A move is "
        "the number of an empty cell. Whoever first holds three cells in one row, column or diagonal "
        "wins; if the board fills up with no such line, the game is a draw."
    )


# --- Simple negotiation ------------------------------------------------------------------------

_OFFER = re.compile(r"offer\s*:\s*(?P<give>[^>]*?)\s*->\s*(?P<want>.*)", re.IGNORECASE | re.DOTALL)
_ITEM = re.compile(r"(?P<qty>\d+)\s*(?P<name>[a-z]+)", re.IGNORECASE)


class NegotiationMatch(TextArenaMatch):
    """Moves are patterns, not a finite list: ``Accept``, ``Deny`` or
    ``Offer: <qty> <Resource>[, ...] -> <qty> <Resource>[, ...]`` (what the seat gives -> what it
    wants). In the ``boxed`` format the box may hold the move bare or in TextArena's own brackets:
    ``\\boxed{Accept}`` and ``\\boxed{[Accept]}`` are the same move; in the ``bracket`` format it
    is ``[Accept]``. Case and spaces do not matter; resource names are spelled back the way TextArena
    spells them. Legal means: an offer gives only what the seat holds; ``Accept`` needs a standing
    offer from the other seat and the quantities it asks for; ``Deny`` (refuse, or pass) is always
    legal. Only the canonical move reaches TextArena and the other seat: the rest of the answer text
    (reasoning, talk) stays private to the seat that wrote it.
    """

    history_shown = 6  # how many of the latest moves the prompt shows

    def __init__(self, game: TextArenaGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.messages: list[tuple[int, str]] = []  # (seat, canonical move), in order

    # -- engine state, read-only ---------------------------------------------------------------
    @property
    def resource_names(self) -> list[str]:
        return list(self.env.resource_names)

    def holdings(self, seat: int) -> dict[str, int]:
        return dict(self.ta_state.game_state["player_resources"][seat])

    def values(self, seat: int) -> dict[str, int]:
        return dict(self.ta_state.game_state["player_values"][seat])

    def standing_offer(self) -> dict[str, Any] | None:
        """TextArena's current offer: from_player, offered_resources, requested_resources."""
        return self.ta_state.game_state["current_offer"]

    # -- parsing -------------------------------------------------------------------------------
    def _parse_items(self, text: str) -> dict[str, int] | None:
        names = {name.casefold(): name for name in self.resource_names}
        items: dict[str, int] = {}
        for part in text.split(","):
            found = _ITEM.fullmatch(part.strip())
            if found is None:
                return None
            name, qty = names.get(found["name"].casefold()), int(found["qty"])
            if name is None or qty <= 0:
                return None
            items[name] = items.get(name, 0) + qty
        return items

    @staticmethod
    def _items_text(items: dict[str, int]) -> str:
        return ", ".join(f"{qty} {name}" for name, qty in items.items())

    def parse_offer(self, content: str) -> tuple[dict[str, int], dict[str, int]] | None:
        """(gives, wants) of an ``Offer: ... -> ...`` text, or None when it is not one."""
        found = _OFFER.fullmatch(normalise(content))
        if found is None:
            return None
        give, want = self._parse_items(found["give"]), self._parse_items(found["want"])
        if give is None or want is None:
            return None
        return give, want

    def _holds(self, seat: int, items: dict[str, int]) -> bool:
        held = self.holdings(seat)
        return all(held.get(name, 0) >= qty for name, qty in items.items())

    def _can_accept(self, seat: int) -> bool:
        offer = self.standing_offer()
        if not offer or offer["from_player"] == seat:
            return False
        return self._holds(seat, offer["requested_resources"])

    def parse(self, text: str) -> str | None:
        seat = self.current_seat()
        if seat is None:
            return None
        content = extract_answer(text, self.rules.answer_format)
        if content is None:
            return None
        content = content.strip()
        if content.startswith("[") and content.endswith("]"):  # \boxed{[Accept]}
            content = content[1:-1]
        word = normalise(content)
        if word == "deny":
            return "Deny"
        if word == "accept":
            return "Accept" if self._can_accept(seat) else None
        offer = self.parse_offer(content)
        if offer is None or not self._holds(seat, offer[0]):
            return None
        return f"Offer: {self._items_text(offer[0])} -> {self._items_text(offer[1])}"

    def legal_moves(self) -> list[str]:
        """Examples of legal moves for the prompt (every one of them is legal now)."""
        seat = self.current_seat()
        if seat is None:
            return []
        moves = ["Deny"]
        if self._can_accept(seat):
            moves.append("Accept")
        names, held = self.resource_names, self.holdings(seat)
        for i, name in enumerate(names):
            if held.get(name, 0) >= 1:
                moves.append(f"Offer: 1 {name} -> 1 {names[(i + 1) % len(names)]}")
                break
        return moves

    # -- playing -------------------------------------------------------------------------------
    def after_engine_step(self, seat: int, move: str) -> None:
        self.messages.append((seat, move))

    @property
    def total_moves(self) -> int:
        return self.game.total_moves

    def observation_text(self, seat: int) -> str:
        held, values = self.holdings(seat), self.values(seat)
        worth = self.ta_state.game_state["inventory_value"][seat]
        lines = ["Your resources (quantity x your value per unit):"]
        lines += [f"  {name}: {held[name]} x {values[name]}" for name in self.resource_names]
        lines.append(
            f"Your total value: {worth['current']} "
            f"(started at {worth['initial']}, change {worth['change']:+d})."
        )
        offer = self.standing_offer()
        if offer:
            gives = self._items_text(offer["offered_resources"])
            wants = self._items_text(offer["requested_resources"])
        if not offer:
            lines.append("Standing offer: none.")
        elif offer["from_player"] == seat:
            lines.append(
                f"Standing offer: yours to {self.role(1 - seat)}: you give {gives} for {wants}."
            )
        else:
            lines.append(
                f"Standing offer: from {self.role(1 - seat)}: you would get {gives} and give {wants}."
            )
        recent = self.messages[-self.history_shown :]
        lines.append("Recent moves:" if recent else "Recent moves: none yet.")
        lines += [f"  {self.role(s)}: {move}" for s, move in recent]
        lines.append(f"This is move {self.ta_state.turn + 1} of {self.total_moves}.")
        names = ", ".join(self.resource_names)
        lines.append(
            "Move patterns: Accept, Deny, or Offer: <qty> <Resource>, ... -> <qty> <Resource>, ... "
            f"(what you give -> what you want), with the resources {names}."
        )
        return "\n".join(lines)


class SimpleNegotiation(TextArenaGame):
    """TextArena's SimpleNegotiation. The default is the ``-short`` variant: TextArena plays
    ``max_turns + 1`` moves (its turn check runs before the turn counter moves), so ``-short``
    (max_turns 6) is 7 moves and ``SimpleNegotiation-v0`` (max_turns 10) is 11, player_0 moving
    first and last in both."""

    name = "textarena_negotiation"
    description = "Resource trading on TextArena's SimpleNegotiation: gain more value than your opponent."
    match_class = NegotiationMatch
    open_moves = True

    def __init__(self, env_id: str = "SimpleNegotiation-v0-short", name: str | None = None):
        self.env_id = env_id if env_id.endswith("-raw") else env_id + "-raw"
        if name is not None:
            self.name = name

    @cached_property
    def total_moves(self) -> int:
        """Moves in a whole match, read from TextArena's registry (its max_turns, plus one)."""
        spec = _textarena().envs.registration.ENV_REGISTRY[self.env_id]
        return int(spec.kwargs["max_turns"]) + 1

    @property
    def rules_text(self) -> str:  # type: ignore[override]
        first, second = (self.total_moves + 1) // 2, self.total_moves // 2
        return (
            "Each player holds some Wheat, Wood, Sheep, Brick and Ore and has its own private value per "
            "unit of each, near a shared base (Wheat 5, Wood 10, Sheep 15, Brick 25, Ore 40, give or take "
            "20%). On a move a player may offer a trade (what it gives -> what it wants in return), accept "
            "the other player's standing offer, or deny (refuse, or pass). Only one offer stands at a time: "
            "it lasts until it is accepted or a new offer replaces it. You can offer only what you hold and "
            "accept only if you hold what is asked. The game lasts "
            f"{self.total_moves} moves ({first} for player_0, who moves first and last; {second} for "
            "player_1). The player whose holdings gained more value by its own values wins; equal gains "
            "are a draw."
        )


TEXTARENA_GAMES: dict[str, LanguageGame] = {game.name: game for game in (TicTacToe(), SimpleNegotiation())}
