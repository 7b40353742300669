"""Language games: a rules engine's match seen through text, one seat at a time.

A `LanguageGame` makes `Match`es. A match owns its own seeded RNG (chance nodes, shuffles), so
replaying its seed and its moves reproduces it exactly. Players see an `Observation` (the prompt
and the legal moves) and answer with text; `Match.submit` parses that text into a legal move or
records an invalid move and applies the configured rule (end with a penalty, or retry).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparring.errors import SparringError
from sparring.games.answer import moves_instruction, parse_move


@dataclass(frozen=True)
class MatchRules:
    """What the referee does around the engine's rules."""

    answer_format: str = "boxed"
    invalid_move: str = "penalty"  # "penalty": the match ends; "retry": the seat tries again
    invalid_penalty: float = -1.5  # the offender's return when an invalid move ends the match
    invalid_bonus: float = 0.5  # every other seat's return then
    retries: int = 2  # extra attempts per turn under "retry"; after them the penalty applies
    max_turns: int = 50  # a match still running after this many moves is a draw


TRAINING_RULES = MatchRules()
EVALUATION_RULES = MatchRules(invalid_penalty=-1.0, invalid_bonus=1.0)


@dataclass
class Turn:
    """One answer a seat gave: what it saw, what it wrote, what that meant."""

    seat: int
    prompt: str
    text: str
    move: str | None  # None: an invalid move
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. token ids and log-probs of an LM

    @property
    def valid(self) -> bool:
        return self.move is not None


@dataclass
class Observation:
    """What a player gets when it is its turn."""

    match: Match
    seat: int
    prompt: str
    legal_moves: list[str]

    @property
    def answer_format(self) -> str:
        return self.match.rules.answer_format

    @property
    def is_task(self) -> bool:
        """Whether this is a one-seat task's question (templates word tasks apart from games)."""
        return bool(getattr(getattr(self.match, "game", None), "is_task", False))


class LanguageGame(ABC):
    """A game by name: its seats, a one-line description and a way to start matches."""

    name: str
    description: str
    roles: tuple[str, ...]
    rules_text: str  # the rules in one paragraph, shown in every prompt
    open_moves: bool = False  # True: legal_moves() lists examples of a move pattern, not every legal move
    fixed_players_play: bool = True  # False: no legal moves are listed, so random & co. cannot play it
    is_task: bool = False  # a one-seat task (answer a question) rather than a game against others
    cooperative: bool = False  # every seat shares one return (Hanabi): one team, scored, not ranked
    turn_cap: int | None = None  # set: the game's own bound on its length replaces rules.max_turns
    labelled_roles: tuple[str, ...] = ()  # roles whose turns `labelled_turn` gives with their right answer

    @property
    def num_seats(self) -> int:
        return len(self.roles)

    def with_seats(self, seats: int) -> LanguageGame:
        """This game for `seats` players: itself when that is its seat count; games with a variable
        number of players (Hanabi, Who is the spy) return a copy; anything else is a SparringError."""
        if seats != self.num_seats:
            raise SparringError(f"{self.name} is played by {self.num_seats} players, not {seats}")
        return self

    @abstractmethod
    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> Match:
        """A fresh match whose chance events are drawn from `seed` alone."""

    # --- hooks for games that keep state across matches (task games); defaults: stateless ----
    def for_run(self, options: Any = None) -> LanguageGame:
        """The game object one run uses: this one when stateless; a stateful game returns a fresh
        copy configured from `options` (any object with the fields it reads)."""
        return self

    def labelled_turn(self, seed: int, rules: MatchRules = TRAINING_RULES) -> tuple[Observation, str]:
        """A turn of one of `labelled_roles`, drawn from `seed` among the training items, and the move the game's
        rule says is right there: a warm start's supervised data (`training.algorithms.warm_start`)."""
        raise SparringError(f"{self.name} has no labelled turns (only games with labelled_roles do)")

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep of this game's state across matches."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        """Game-specific numbers for one training step's finished matches (logged as they are)."""
        return {}

    def seat_metrics(self, matches: list[Match], seats: list[int]) -> dict[str, float]:
        """Game-specific evaluation numbers of one player who sat at `seats[k]` in `matches[k]`."""
        return {}

    def replay(self, seed: int, texts: list[str], rules: MatchRules = TRAINING_RULES) -> Match:
        """The match that results from submitting these answer texts in order."""
        match = self.new_match(seed, rules)
        for text in texts:
            match.submit(text)
        return match


class BufferedGame:
    """Mixed in before a game's base class: a game whose state across matches is one `buffer` (an object
    with `state_dict`/`load_state_dict`), kept in checkpoints."""

    buffer: Any

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])


class Match(ABC):
    """One match in progress. Subclasses wrap an engine; this class referees the text."""

    task: str | None = None  # a label advantages may be grouped by (task games: the task type)

    def __init__(self, game: LanguageGame, seed: int, rules: MatchRules):
        self.game = game
        self.seed = seed
        self.rules = rules
        self.rng = np.random.default_rng(seed)
        self.turns: list[Turn] = []
        self.moves_made = 0
        self.cut = False  # True: the turn limit ended the match before the game did (a draw)
        self.abandoned: dict[str, Any] | None = None  # set by `abandon`: the match ended with no outcome
        self._failed_attempts = 0
        self._final_returns: list[float] | None = None

    # --- what an engine adapter provides -------------------------------------------------
    @abstractmethod
    def _engine_seat(self) -> int | None:
        """The seat to move, or None when the engine says the game is over."""

    @abstractmethod
    def legal_moves(self) -> list[str]:
        """Names of the legal moves of the seat to move."""

    @abstractmethod
    def _engine_apply(self, move: str) -> None:
        """Play a legal move (by name), then resolve any chance events with `self.rng`."""

    @abstractmethod
    def _engine_returns(self) -> list[float]:
        """Each seat's return once the engine says the game is over."""

    @abstractmethod
    def observation_text(self, seat: int) -> str:
        """What this seat may see now: its private information, the board or the history."""

    def parse(self, text: str) -> str | None:
        """The legal move this text names, or None. Games with open-ended moves override it."""
        return parse_move(text, self.legal_moves(), self.rules.answer_format)

    @property
    def engine_state(self) -> Any:
        """The engine's own state object, for players that search it (None if not searchable)."""
        return None

    # --- refereeing -------------------------------------------------------------------------
    def is_over(self) -> bool:
        return self.abandoned is not None or self._final_returns is not None or self._engine_seat() is None

    def current_seat(self) -> int | None:
        return None if self.is_over() else self._engine_seat()

    def returns(self) -> list[float]:
        if self.abandoned is not None:
            raise RuntimeError("returns() asked of an abandoned match: it has no outcome")
        if self._final_returns is not None:
            return list(self._final_returns)
        if self._engine_seat() is not None:
            raise RuntimeError("returns() asked of a match that is not over")
        return [float(r) for r in self._engine_returns()]

    def role(self, seat: int) -> str:
        """The seat's role: what baselines and metrics are keyed by (a game with hidden roles dealt
        per match, like Who is the spy, overrides it)."""
        return self.game.roles[seat]

    def header(self, seat: int) -> list[str]:
        """The prompt's first lines: the game and its rules (the same for every seat and turn, so the
        prompts of a step share this prefix), then the seat."""
        return [f"You are playing {self.game.name}.", f"Rules: {self.game.rules_text}", f"You are {self.role(seat)}."]

    def teams(self) -> list[int]:
        """A team number per seat: seats on one team share an outcome (and an invalid move's
        penalty). By default one team per seat; a cooperative game is one team."""
        if self.game.cooperative:
            return [0] * self.game.num_seats
        return list(range(self.game.num_seats))

    def _invalid_returns(self, seat: int) -> list[float]:
        """The returns when `seat`'s invalid move ends the match: its team pays the penalty."""
        teams = self.teams()
        return [self.rules.invalid_penalty if teams[s] == teams[seat] else self.rules.invalid_bonus
                for s in range(self.game.num_seats)]

    def prompt(self, seat: int) -> str:
        lines = [
            *self.header(seat),
            self.observation_text(seat),
            moves_instruction(self.legal_moves(), self.rules.answer_format),
        ]
        if self._failed_attempts:
            lines.append("Your previous answer named no legal move; answer with one of the legal moves.")
        return "\n".join(lines)

    def observe(self) -> Observation:
        seat = self.current_seat()
        if seat is None:
            raise RuntimeError("observe() asked of a match that is over")
        return Observation(self, seat, self.prompt(seat), self.legal_moves())

    def submit(self, text: str, prompt: str | None = None, **extra: Any) -> Turn:
        """Referee one answer of the seat to move and return the recorded turn."""
        seat = self.current_seat()
        if seat is None:
            raise RuntimeError("submit() on a match that is over")
        move = self.parse(text)
        turn = Turn(seat, prompt if prompt is not None else self.prompt(seat), text, move, dict(extra))
        self.turns.append(turn)
        if move is not None:
            self._failed_attempts = 0
            self._engine_apply(move)
            self.moves_made += 1
            if not self.is_over() and self.moves_made >= (self.game.turn_cap or self.rules.max_turns):
                self.cut = True
                self._final_returns = [0.0] * self.game.num_seats
        else:
            self._failed_attempts += 1
            retrying = self.rules.invalid_move == "retry" and self._failed_attempts <= self.rules.retries
            if not retrying:
                self._final_returns = self._invalid_returns(seat)
        return turn

    def abandon(self, reason: str) -> None:
        """End the match with no outcome: the seat to move got no answer from its player (a served model's
        transport failed), which is no move of that seat. Nothing is refereed or scored; the record keeps the
        turns played and why the match stopped."""
        self.abandoned = {"seat": self.current_seat(), "reason": reason}

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """This seat's turns as independently scored trajectories, each with its return. By default
        one: all its turns, scored by the match's return; a game with per-turn rewards overrides it."""
        return [([t for t in self.turns if t.seat == seat], self.returns()[seat])]

    def trajectory_role(self, seat: int, turns: list[Turn]) -> str:
        """What one of the seat's scored trajectories (`scored_turns`) is keyed by for baselines: its role.
        A game whose trajectories of one seat are scored in different kinds keys them apart."""
        return self.role(seat)

    def invalid_seats(self) -> set[int]:
        return {turn.seat for turn in self.turns if not turn.valid}

    def record(self) -> dict[str, Any]:
        """The whole match as one JSON-ready record."""
        return {
            "game": self.game.name,
            "seed": self.seed,
            "turns": [
                {"seat": t.seat, "role": self.role(t.seat), "prompt": t.prompt, "text": t.text, "move": t.move}
                for t in self.turns
            ],
            "returns": self.returns() if self.is_over() and self.abandoned is None else None,
            **({"abandoned": self.abandoned} if self.abandoned is not None else {}),
        }
