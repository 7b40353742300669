"""Liar's Dice for N players on TextArena's ``LiarsDice-v0-small`` (three dice each): TextArena keeps
the rules and the ranking returns; sparring writes each seat's prompt from the environment state.

A seat sees its own dice and nothing of anyone else's: the dice counts left, the standing bid and the
public history (bids, and each call's outcome: how many dice showed the face, who lost a die), as
TextArena announces it to everyone.

Moves are a pattern: ``Bid: <quantity>, <face>`` or ``Call``. Legal means what TextArena accepts
(a bid raises the quantity or the face, lowers neither, is not the same bid, face 1 to 6; ``Call``
needs a standing bid), plus one bound of sparring's: a bid's quantity is at most the number of
dice still in play (a larger bid can only lose, and without the bound a match has no length limit).
Returns are TextArena's: by elimination order, evenly from -1 (first out) to +1 (the winner), so
they sum to 0.
"""

from __future__ import annotations

import re
from sparring.games.answer import extract_answer, normalise
from sparring.games.base import MatchRules
from sparring.games.textarena_games import PartyGame, TextArenaMatch

_BID = re.compile(r"bid\s*:?\s*(\d+)\s*[,\s]\s*(\d+)")
FACES = range(1, 7)


class LiarsDiceMatch(TextArenaMatch):
    game: LiarsDice
    history_shown = 8  # how many of the latest public events the prompt shows

    def __init__(self, game: LiarsDice, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        self.events: list[str] = []  # public history, in order

    # -- engine state, read-only ---------------------------------------------------------------
    @property
    def bid(self) -> tuple[int, int]:
        """The standing bid (quantity, face); (0, 0) when none."""
        current = self.ta_state.game_state["current_bid"]
        return current["quantity"], current["face_value"]

    def dice(self, seat: int) -> list[int]:
        return list(self.ta_state.game_state["dice_rolls"][seat])

    def dice_left(self) -> dict[int, int]:
        return dict(self.ta_state.game_state["remaining_dice"])

    # -- moves ---------------------------------------------------------------------------------
    def legal_bid(self, quantity: int, face: int) -> bool:
        held, shown = self.bid
        return (face in FACES and held <= quantity <= sum(self.dice_left().values()) and quantity >= 1
                and face >= shown and (quantity, face) != (held, shown))

    def parse(self, text: str) -> str | None:
        if self.current_seat() is None:
            return None
        content = extract_answer(text, self.rules.answer_format)
        if content is None:
            return None
        word = normalise(content).strip("[]")
        if word == "call":
            return "Call" if self.bid[0] else None
        found = _BID.fullmatch(word)
        if found is None or not self.legal_bid(int(found[1]), int(found[2])):
            return None
        return f"Bid: {int(found[1])}, {int(found[2])}"

    def legal_moves(self) -> list[str]:
        """Examples of legal moves: the smallest raises of quantity and of face, and Call."""
        if self.current_seat() is None:
            return []
        quantity, face = self.bid
        raises = [(quantity + 1, max(face, 1)), (quantity, face + 1), (quantity + 1, 6)]
        moves = list(dict.fromkeys(f"Bid: {q}, {f}" for q, f in raises if self.legal_bid(q, f)))
        return moves + (["Call"] if quantity else [])

    def _engine_apply(self, move: str) -> None:
        seat, (quantity, face) = self.current_seat(), self.bid
        shown = sum(self.dice(s).count(face) for s in range(self.game.num_seats))
        before = self.dice_left()
        super()._engine_apply(move)
        if move != "Call":
            self.events.append(f"player_{seat} bids {move.removeprefix('Bid: ').replace(', ', ' x ')}.")
            return
        loser = next(s for s, n in self.dice_left().items() if n < before[s])
        self.events.append(f"player_{seat} calls the bid {quantity} x {face}: {shown} dice showed {face}; "
                           f"player_{loser} loses a die.")

    # -- what a seat sees ----------------------------------------------------------------------
    def observation_text(self, seat: int) -> str:
        left = self.dice_left()
        quantity, face = self.bid
        lines = [
            f"Your dice: {', '.join(map(str, self.dice(seat)))}.",
            "Dice left: " + ", ".join(f"player_{s} {n}" + (" (out)" if n == 0 else "") for s, n in left.items())
            + f"; {sum(left.values())} in play.",
            f"Standing bid: {quantity} x {face} by player_{self.ta_state.game_state['last_bidder_id']}."
            if quantity else "Standing bid: none (this round starts with you).",
        ]
        recent = self.events[-self.history_shown:]
        lines.append("Recent events:" if recent else "Recent events: none yet.")
        lines += [f"  {event}" for event in recent]
        lines.append("Move patterns: Bid: <quantity>, <face> (raise the standing bid) or Call.")
        return "\n".join(lines)


class LiarsDice(PartyGame):
    base_name = "textarena_liars_dice"
    description = "Liar's Dice on TextArena's LiarsDice-v0-small, 2 to 15 players (NAME@N; default 3)."
    env_id = "LiarsDice-v0-small-raw"
    match_class = LiarsDiceMatch
    open_moves = True
    seat_range = range(2, 16)
    default_seats = 3
    dice_each = 3  # LiarsDice-v0-small

    rules_text = (
        "Liar's Dice. Every player starts with 3 dice, rolled in secret at the start of each round: you see "
        "only your own. In turn, a player either bids (a quantity and a face 1-6: at least that many dice "
        "among all players show that face) or calls the standing bid. A bid must raise the quantity or the "
        "face and lower neither. On a call, all dice are counted: if fewer show the face than bid, the "
        "bidder loses a die, otherwise the caller does; then everyone rolls again and the next player "
        "starts a new round. A player with no dice is out; the last one left wins. Returns go by the order "
        "of elimination, from -1 (first out) to +1 (the winner)."
    )

    @property
    def turn_cap(self) -> int:  # type: ignore[override]
        # Every round ends with a call that takes a die away, and a round has at most 6 x dice bids.
        dice = self.num_seats * self.dice_each
        return dice * (6 * dice + 1)
