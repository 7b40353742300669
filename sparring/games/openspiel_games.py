"""OpenSpiel games as language games. OpenSpiel owns the rules; this module owns the words.

Each first-class game has a `SeatView`: readable move names and a readable observation for one
seat. Any other two-player turn-based OpenSpiel game gets the generic view, built from the
engine's own action strings and information-state (or observation) string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyspiel

from sparring.errors import SparringError
from sparring.games.base import TRAINING_RULES, LanguageGame, Match, MatchRules

KUHN_CARDS = ("Jack", "Queen", "King")
LEDUC_RANKS = ("Jack", "Queen", "King")


class SeatView:
    """The generic view: the engine's own strings."""

    rules_text = "Standard rules of this game as implemented by OpenSpiel."

    def move_name(self, state: pyspiel.State, action: int) -> str:
        return state.action_to_string(state.current_player(), action)

    def observation(self, state: pyspiel.State, seat: int) -> str:
        game_type = state.get_game().get_type()
        if game_type.provides_information_state_string:
            return "Your information: " + state.information_state_string(seat)
        return "Observation: " + state.observation_string(seat)


class BoardView(SeatView):
    """Tic-tac-toe and Connect Four: moves by cell or column number, the board as a grid."""

    def __init__(self, rules_text: str, marks: str = "xo", cells: bool = True):
        self.rules_text = rules_text
        self.marks = marks
        self.cells = cells  # True: moves are cells and free cells show their number

    def move_name(self, state: pyspiel.State, action: int) -> str:
        return str(action)

    def observation(self, state: pyspiel.State, seat: int) -> str:
        rows = str(state).strip().splitlines()
        if self.cells:
            width = len(rows[0])
            rows = [
                " ".join(ch if ch != "." else str(r * width + c) for c, ch in enumerate(row))
                for r, row in enumerate(rows)
            ]
        else:
            rows = [" ".join(str(c) for c in range(len(rows[0])))] + [" ".join(row) for row in rows]
        return f"You play {self.marks[seat]}. Board:\n" + "\n".join(rows)


class KuhnView(SeatView):
    rules_text = (
        "Kuhn Poker. Cards: Jack < Queen < King. Both players ante 1 chip and get one card. "
        "Pass or bet 1 chip; after a bet, bet calls and pass folds. At showdown the higher card "
        "takes the pot; you win or lose chips."
    )

    def move_name(self, state: pyspiel.State, action: int) -> str:
        return ("pass", "bet")[action]

    def observation(self, state: pyspiel.State, seat: int) -> str:
        history = state.history()
        card = KUHN_CARDS[history[seat]]
        words = [f"player_{i % 2} {('passes', 'bets')[a]}" for i, a in enumerate(history[2:])]
        betting = ", ".join(words) if words else "nothing yet"
        return f"Your card: {card}. Betting so far: {betting}."


class LeducView(SeatView):
    rules_text = (
        "Leduc Hold'em: a deck of two Jacks, two Queens and two Kings; each player antes 1 chip "
        "and gets one private card. Two betting rounds (raise 2 chips in round 1, 4 in round 2, "
        "at most two raises a round); a public card is shown after round 1. A pair with the public "
        "card wins, else the higher card; folding loses what you put in."
    )

    def move_name(self, state: pyspiel.State, action: int) -> str:
        return ("fold", "call", "raise")[action]

    @staticmethod
    def info(state: pyspiel.State, seat: int) -> dict[str, str]:
        """The fields of OpenSpiel's information-state string (Private, Public, Pot, Round1, Round2, ...)."""
        return dict(re.findall(r"\[(\w+\d?):? ?([^\]]*)\]", state.information_state_string(seat)))

    @classmethod
    def ranks(cls, state: pyspiel.State, seat: int) -> tuple[int, int | None]:
        """The seat's card and the public card as ranks (0 = Jack, 1 = Queen, 2 = King; None: not shown yet)."""
        info = cls.info(state, seat)
        return int(info["Private"]) // 2, int(info["Public"]) // 2 if info.get("Public") else None

    def observation(self, state: pyspiel.State, seat: int) -> str:
        """The card, the public card and whether it pairs the card (the one comparison the rules turn on,
        said outright as a poker table would), the pot and both rounds' betting. The stacks are left out:
        they follow from the betting, and 100 chips never run out in Leduc's at most 13 a player."""
        info = self.info(state, seat)
        card, public = self.ranks(state, seat)
        shown = ("not shown yet" if public is None
                 else f"{LEDUC_RANKS[public]} ({'a pair with yours' if public == card else 'no pair'})")
        words = {"0": "fold", "1": "call", "2": "raise"}
        rounds = [
            ", ".join(words[a] for a in info.get(f"Round{r}", "").split()) or "nothing yet"
            for r in (1, 2)
        ]
        return (f"Your card: {LEDUC_RANKS[card]}. Public card: {shown}. Pot: {info['Pot']}. "
                f"Round 1 betting: {rounds[0]}. Round 2 betting: {rounds[1]}.")


class LiarsDiceView(SeatView):
    rules_text = (
        "Liar's Dice: each player rolls one die hidden from the other. Players take turns bidding "
        "'Q-F', a claim that at least Q of all dice show face F, where a 6 is wild: it counts as "
        "every face (a bid on face 6 counts only 6s). Each bid must be higher than the last: more "
        "dice, or as many dice of a higher face. Instead of bidding you may call 'Liar' on the last "
        "bid: if the bid is true the caller loses, otherwise the bidder loses."
    )

    def observation(self, state: pyspiel.State, seat: int) -> str:
        dice, *bids = state.information_state_string(seat).split()
        said = ", ".join(f"player_{i % 2} bids {b}" for i, b in enumerate(bids)) or "no bids yet"
        return f"Your dice: {' '.join(dice)}. Bidding so far: {said}."


FIRST_CLASS_VIEWS: dict[str, tuple[str, SeatView]] = {
    "tic_tac_toe": (
        "Tic-tac-toe on a 3x3 board; moves are cell numbers.",
        BoardView("Players take turns marking a free cell; three in a row, column or diagonal wins; "
                  "a full board without a line is a draw."),
    ),
    "connect_four": (
        "Connect Four on a 6x7 board; moves are column numbers.",
        BoardView("Players take turns dropping a piece into a column that is not full; it falls to "
                  "the lowest free row. Four in a row in any direction wins.", cells=False),
    ),
    "kuhn_poker": ("Kuhn Poker: three cards, one bet; scored by chips.", KuhnView()),
    "leduc_poker": ("Leduc Hold'em: six cards, two betting rounds; scored by chips.", LeducView()),
    "liars_dice": ("Liar's Dice with one die each; bid or call Liar.", LiarsDiceView()),
}


@dataclass
class OpenSpielGame(LanguageGame):
    """A two-player turn-based OpenSpiel game seen through a `SeatView`."""

    name: str
    description: str
    engine: pyspiel.Game
    view: SeatView

    def __post_init__(self) -> None:
        self.roles = tuple(f"player_{i}" for i in range(self.engine.num_players()))
        self.rules_text = self.view.rules_text

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> OpenSpielMatch:
        return OpenSpielMatch(self, seed, rules)


class OpenSpielMatch(Match):
    game: OpenSpielGame

    def __init__(self, game: OpenSpielGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.state = game.engine.new_initial_state()
        self._resolve_chance()

    def _resolve_chance(self) -> None:
        while self.state.is_chance_node():
            actions, probs = zip(*self.state.chance_outcomes())
            self.state.apply_action(int(self.rng.choice(actions, p=np.asarray(probs))))

    @property
    def engine_state(self) -> pyspiel.State:
        return self.state

    def _engine_seat(self) -> int | None:
        return None if self.state.is_terminal() else self.state.current_player()

    def _moves(self) -> dict[str, int]:
        return {self.game.view.move_name(self.state, a): a for a in self.state.legal_actions()}

    def legal_moves(self) -> list[str]:
        return list(self._moves())

    def move_name(self, action: int) -> str:
        return self.game.view.move_name(self.state, action)

    def _engine_apply(self, move: str) -> None:
        self.state.apply_action(self._moves()[move])
        self._resolve_chance()

    def _engine_returns(self) -> list[float]:
        return list(self.state.returns())

    def observation_text(self, seat: int) -> str:
        return self.game.view.observation(self.state, seat)


def load_openspiel_game(name: str) -> OpenSpielGame:
    """A first-class game by name, or any two-player turn-based OpenSpiel game as `openspiel:NAME`."""
    if name in FIRST_CLASS_VIEWS:
        description, view = FIRST_CLASS_VIEWS[name]
        return OpenSpielGame(name, description, pyspiel.load_game(name), view)
    engine_name = name.removeprefix("openspiel:")
    try:
        engine = pyspiel.load_game(engine_name)
    except pyspiel.SpielError as error:
        raise SparringError(f"OpenSpiel cannot load {engine_name!r}: {str(error).splitlines()[0]}") from None
    game_type = engine.get_type()
    if engine.num_players() != 2 or game_type.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise SparringError(f"{engine_name!r} is not a two-player turn-based game; sparring cannot seat it")
    return OpenSpielGame(f"openspiel:{engine_name}", game_type.long_name + " (OpenSpiel, generic prompt)",
                         engine, SeatView())


def generic_openspiel_names() -> list[str]:
    """Names of every registered two-player turn-based OpenSpiel game."""
    names = []
    for game_type in pyspiel.registered_games():
        if (game_type.dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL
                and game_type.min_num_players <= 2 <= game_type.max_num_players):
            names.append(f"openspiel:{game_type.short_name}")
    return sorted(names)
