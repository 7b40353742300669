"""A rule-based Hanabi player, written from the rules: play a card known to be playable, else hint
a partner about a playable card, else discard, else give any hint.

It reads only what its seat may see (OpenSpiel's observation for that seat: its own cards as the
hints describe them, its partners' cards in full), never the hidden state.
"""

from __future__ import annotations

import numpy as np

from sparring.errors import SparringError
from sparring.games.base import Observation
from sparring.games.hanabi import COLOURS, HanabiSeen, parse_observation
from sparring.players.base import MovePlayer


class HanabiRulesPlayer(MovePlayer):
    """Plays Hanabi (any number of players) by four rules, in order:

    1. play the first card whose hints prove it playable;
    2. with a hint token, hint the nearest partner holding a playable card it does not know is
       playable (its rank, or its colour once the rank is known);
    3. discard the oldest card no hint has touched (the oldest card if all were hinted);
    4. give the first legal hint (discarding is not allowed with all hint tokens in hand).
    Ties are broken in that fixed order, so it is deterministic; ``reseed`` is accepted and unused.
    """

    name = "hanabi_rules"

    def __init__(self, seed: int = 0):
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, observation: Observation) -> str:
        match = observation.match
        state = match.engine_state
        if state is None or state.get_game().get_type().short_name != "hanabi":
            raise SparringError(f"hanabi_rules plays hanabi, not {match.game.name!r}")
        seat = observation.seat
        seen = parse_observation(state.observation_string(seat))
        legal = set(observation.legal_moves)
        for i, card in enumerate(seen.hands[0]):
            if seen.known_playable(card) and f"play {i}" in legal:
                return f"play {i}"
        hint = self.useful_hint(seen, seat, state.get_game().num_players(), legal)
        if hint is not None:
            return hint
        untouched = [i for i, c in enumerate(seen.hands[0]) if len(c.colours) > 1 and len(c.ranks) > 1]
        discard = f"discard {untouched[0] if untouched else 0}"
        if discard in legal:
            return discard
        return next(m for m in observation.legal_moves if m.startswith("hint "))

    @staticmethod
    def useful_hint(seen: HanabiSeen, seat: int, players: int, legal: set[str]) -> str | None:
        """A hint that points a partner at a playable card it does not yet know is playable."""
        for offset, hand in enumerate(seen.hands[1:], start=1):
            partner = f"player_{(seat + offset) % players}"
            for card in hand:
                if seen.playable(card.card) and not seen.known_playable(card):
                    rank, colour = f"hint {partner} rank {card.card[1]}", f"hint {partner} {COLOURS[card.card[0]]}"
                    # the hint that still tells something: the rank unless they know it already
                    for hint in ((rank, colour) if len(card.ranks) > 1 else (colour,)):
                        if hint in legal:
                            return hint
        return None
