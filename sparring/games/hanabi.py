"""Hanabi and Tiny Hanabi (OpenSpiel) in words: cooperative games where every seat shares the score.

OpenSpiel keeps the rules and the score. This module reads OpenSpiel's per-seat observation (which
already hides a seat's own cards: they show as ``XX``) and writes it out: fireworks, tokens, what
the seat knows about its own cards from hints, and its partners' cards. Moves get plain names:
``play 2``, ``discard 0``, ``hint player_1 red``, ``hint player_2 rank 3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyspiel

from sparring.errors import SparringError
from sparring.games.openspiel_games import OpenSpielGame, SeatView

COLOURS = {"R": "red", "Y": "yellow", "G": "green", "W": "white", "B": "blue"}
HANABI_PLAYERS = range(2, 6)


@dataclass
class HanabiCard:
    """One card as a seat sees it: the card itself (None when it is the seat's own, hidden) and the
    colours and ranks it may still be, given the hints its holder received."""

    card: str | None
    colours: str  # e.g. "RGWB"
    ranks: str  # e.g. "12345"

    def known(self) -> str | None:
        """The card, when the hints leave one colour and one rank."""
        return self.colours + self.ranks if len(self.colours) == 1 and len(self.ranks) == 1 else None


@dataclass
class HanabiSeen:
    """Everything one seat's OpenSpiel observation says, parsed."""

    lives: int
    hints: int
    fireworks: dict[str, int]  # colour letter -> highest rank played
    hands: list[list[HanabiCard]]  # hands[k]: the hand of the seat k places after the observer
    deck: int
    discards: list[str]

    def playable(self, card: str) -> bool:
        return self.fireworks[card[0]] == int(card[1]) - 1

    def known_playable(self, card: HanabiCard) -> bool:
        """Playable for sure from the hints alone: every card it may be is playable."""
        return all(self.playable(c + r) for c in card.colours for r in card.ranks)


_CARD = re.compile(r"(\S\S) \|\| \S\S\|([A-Z]*)(\d*)")


def parse_observation(text: str) -> HanabiSeen:
    """Parse OpenSpiel's Hanabi observation string (see its ``HanabiObservation::ToString``)."""
    fields = dict(re.findall(r"^(Life tokens|Info tokens|Deck size|Discards|Fireworks): ?(.*)$", text, re.M))
    fireworks = {f[0]: int(f[1:]) for f in fields["Fireworks"].split()}
    hands_text = text.split("Hands:\n", 1)[1].split("Deck size:", 1)[0]
    hands = []
    for block in hands_text.split("-----"):
        cards = [HanabiCard(None if card == "XX" else card, colours, ranks)
                 for card, colours, ranks in _CARD.findall(block)]
        hands.append(cards)
    return HanabiSeen(int(fields["Life tokens"]), int(fields["Info tokens"]), fireworks, hands,
                      int(fields["Deck size"]), fields["Discards"].split())


def _colour_names(letters: str) -> str:
    return "/".join(COLOURS[c] for c in letters)


def _card_name(card: str) -> str:
    return f"{COLOURS[card[0]]} {card[1]}"


def _knowledge(card: HanabiCard, all_colours: str, all_ranks: str) -> str:
    colour = "colour unknown" if card.colours == all_colours else _colour_names(card.colours)
    rank = "rank unknown" if card.ranks == all_ranks else "rank " + "/".join(card.ranks)
    return f"{colour}, {rank}"


class HanabiView(SeatView):
    """Readable Hanabi for one seat: its own cards by what hints say, partners' cards in full."""

    def __init__(self, engine: pyspiel.Game):
        params = engine.get_parameters()
        self.players = engine.num_players()
        self.colours = "".join(list(COLOURS)[: params.get("colors", 5)])
        self.ranks = "".join(str(r) for r in range(1, params.get("ranks", 5) + 1))
        self.rules_text = (
            f"Hanabi, a cooperative card game for {self.players} players who share one score. Cards have a "
            f"colour ({_colour_names(self.colours)}) and a rank (1-{self.ranks[-1]}). You cannot see your own "
            "cards, only your partners'. Together you build one firework per colour, from rank 1 upward. On "
            "your turn, do one thing: play a card (if it is the next rank of its colour it is added, else the "
            "team loses a life and the card is discarded), discard a card (regains a hint token), or spend a "
            "hint token to tell one partner every card of theirs with one colour or one rank. You draw a new "
            "card after playing or discarding. The game ends when all lives are lost (score 0), when every "
            "firework is complete, or one round after the deck runs out. The score is the number of cards "
            "played into fireworks."
        )

    def move_name(self, state: pyspiel.State, action: int) -> str:
        text = state.action_to_string(state.current_player(), action).strip("()")
        kind, *rest = text.split()
        if kind in ("Play", "Discard"):
            return f"{kind.lower()} {rest[0]}"
        # "Reveal player +1 color R" / "Reveal player +2 rank 3"
        partner = f"player_{(state.current_player() + int(rest[1])) % self.players}"
        return f"hint {partner} {COLOURS[rest[3]]}" if rest[2] == "color" else f"hint {partner} rank {rest[3]}"

    def observation(self, state: pyspiel.State, seat: int) -> str:
        seen = parse_observation(state.observation_string(seat))
        fireworks = ", ".join(f"{COLOURS[c]} {n}" for c, n in seen.fireworks.items())
        lines = [
            f"Fireworks: {fireworks} (score {sum(seen.fireworks.values())}).",
            f"Hint tokens: {seen.hints}. Lives: {seen.lives}. Cards left in the deck: {seen.deck}.",
            "Discarded: " + (", ".join(_card_name(c) for c in seen.discards) or "none") + ".",
            "Your hand (hidden from you; what hints told you):",
        ]
        lines += [f"  card {i}: {_knowledge(c, self.colours, self.ranks)}" for i, c in enumerate(seen.hands[0])]
        for offset, hand in enumerate(seen.hands[1:], start=1):
            lines.append(f"player_{(seat + offset) % self.players}'s hand:")
            lines += [f"  card {i}: {_card_name(c.card)} (they know: {_knowledge(c, self.colours, self.ranks)})"
                      for i, c in enumerate(hand)]
        return "\n".join(lines)


class TinyHanabiView(SeatView):
    """OpenSpiel's Tiny Hanabi: a one-move-each cooperative signalling game with a payoff table."""

    def __init__(self, engine: pyspiel.Game):
        self.engine = engine
        params = engine.get_parameters()
        self.cards = [f"d{i}" for i in range(params["num_chance"])]
        self.actions = [f"a{i}" for i in range(params["num_actions"])]
        self.rules_text = (
            f"Tiny Hanabi, a cooperative game for two players who share one score. Each player is dealt "
            f"one card ({', '.join(self.cards)}) that only they see. player_0 picks an action, then "
            f"player_1, who sees player_0's action but not its card, picks one. The team scores by "
            f"this table (player_0's card, player_1's card: player_0's action/player_1's action = "
            f"score): {self.payoff_text()}."
        )

    def payoff_text(self) -> str:
        """The engine's payoff table, read by playing out every deal and action pair."""
        rows = []
        for c0 in range(len(self.cards)):
            for c1 in range(len(self.cards)):
                cells = []
                for a0 in range(len(self.actions)):
                    for a1 in range(len(self.actions)):
                        state = self.engine.new_initial_state()
                        for action in (c0, c1, a0, a1):
                            state.apply_action(action)
                        cells.append(f"{self.actions[a0]}/{self.actions[a1]}={state.returns()[0]:g}")
                rows.append(f"{self.cards[c0]}, {self.cards[c1]}: " + " ".join(cells))
        return "; ".join(rows)

    def move_name(self, state: pyspiel.State, action: int) -> str:
        return self.actions[action]

    def observation(self, state: pyspiel.State, seat: int) -> str:
        history = state.history()
        text = f"You are {('player_0', 'player_1')[seat]}. Your card: {self.cards[history[seat]]}."
        if seat == 1:
            text += f" player_0 chose {self.actions[history[2]]}."
        return text


def load_hanabi(name: str, players: int = 2) -> OpenSpielGame:
    """``tiny_hanabi`` (two players) or ``hanabi`` for 2-5 players, as a cooperative game."""
    if name == "tiny_hanabi":
        if players != 2:
            raise SparringError(f"tiny_hanabi is played by 2 players, not {players}")
        engine = pyspiel.load_game("tiny_hanabi")
        return HanabiGame("tiny_hanabi", "Tiny Hanabi: deal, signal, answer; a shared payoff table.",
                          engine, TinyHanabiView(engine))
    if players not in HANABI_PLAYERS:
        raise SparringError(f"hanabi is played by 2 to 5 players, not {players}")
    engine = pyspiel.load_game("hanabi", {"players": players})
    return HanabiGame("hanabi" if players == 2 else f"hanabi@{players}", f"Hanabi for 2-5 players (here {players}): build fireworks together.",
                      engine, HanabiView(engine))


class HanabiGame(OpenSpielGame):
    """A cooperative OpenSpiel game: one team, a shared score, played to its end (no turn cap)."""

    cooperative = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.turn_cap = self.engine.max_game_length()

    def with_seats(self, seats: int) -> HanabiGame:
        return self if seats == self.num_seats else load_hanabi(self.name, seats)
