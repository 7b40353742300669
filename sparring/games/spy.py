"""Who is the spy (Vision-Zero's game, with words instead of images). No engine has it, so these
are sparring's own rules, all in this module.

N players (default 4). Every civilian gets the same secret word; the spy, one seat drawn at random,
gets a related different word (a pair from ``data/spy_words.txt``; which word of the pair goes to
the spy is drawn too). Each player knows its own word and whether it is the spy, nothing else.

* Clue rounds (default 2): in seat order, each player says one new word as a clue. A clue is
  invalid when it is more than one word, was already said in this match, or reveals the speaker's
  own word (equal to it, containing it or contained in it, ignoring case): an invalid move, which
  ends the match with the offender's team paying the penalty.
* Vote: in seat order each player names another player as the spy. Votes are secret until the
  match ends. The spy is *caught* when it alone has the most votes; a tie saves it.

Returns (zero-sum over the seats, from the votes, as Vision-Zero's clue reward): with ``v_s`` the
votes on the spy, ``v_j`` those on civilian j and ``m`` the civilians' mean,
``spy = -BETA * (v_s - m)`` and ``civilian j = BETA / n_civilians * (v_s - m) - LAMBDA * (v_j - m)``:
the civilians share what the spy loses, and a civilian who drew suspicion gives some to the others.
A civilian's vote is also scored on its own (Vision-Zero's decision reward): +1 for naming the
spy, -1 otherwise (`SpyMatch.scored_turns`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sparring.errors import SparringError
from sparring.games.answer import extract_answer, normalise, parse_move
from sparring.games.base import TRAINING_RULES, LanguageGame, Match, MatchRules, Turn

BETA = 1.0  # weight of the spy's votes in the clue returns
LAMBDA = 0.5  # weight of a civilian's own votes in its clue return
CORRECT_VOTE, WRONG_VOTE = 1.0, -1.0
SEATS = range(3, 9)

# Example clues the prompt lists and the random player picks from (any one new word is legal).
CLUE_EXAMPLES = ("small", "round", "sweet", "old", "cold", "warm", "fast", "soft", "loud", "bright", "long",
                 "heavy", "green", "white", "wooden", "metal", "outdoor", "kitchen", "morning", "music",
                 "animal", "water", "food", "tool", "travel", "school", "home", "summer", "winter", "city")
_WORD = re.compile(r"[a-z][a-z'-]*")


@cache
def word_pairs() -> tuple[tuple[str, str], ...]:
    """The shipped word pairs (civilian word, spy word)."""
    text = resources.files("sparring.games").joinpath("data/spy_words.txt").read_text()
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            first, second = (w.strip().lower() for w in line.split(","))
            pairs.append((first, second))
    return tuple(pairs)


def reveals(clue: str, word: str) -> bool:
    """Whether a clue gives the word away: equal to it, containing it, or contained in it."""
    clue, word = clue.lower(), word.lower()
    return word in clue or clue in word


def vote_returns(votes: dict[int, int], spy: int, seats: int) -> list[float]:
    """The zero-sum returns of a finished vote (`votes`: voter -> the seat it named)."""
    received = [sum(1 for target in votes.values() if target == s) for s in range(seats)]
    civilians = [s for s in range(seats) if s != spy]
    mean = sum(received[s] for s in civilians) / len(civilians)
    spy_edge = received[spy] - mean
    return [-BETA * spy_edge if s == spy else BETA / len(civilians) * spy_edge - LAMBDA * (received[s] - mean)
            for s in range(seats)]


def caught(votes: dict[int, int], spy: int) -> bool:
    """Whether the spy alone has the most votes."""
    received: dict[int, int] = {}
    for target in votes.values():
        received[target] = received.get(target, 0) + 1
    top = max(received.values())
    return received.get(spy, 0) == top and list(received.values()).count(top) == 1


@dataclass
class SpyGame(LanguageGame):
    """Who is the spy for `seats` players with `clue_rounds` rounds of clues before the vote."""

    seats: int = 4
    clue_rounds: int = 2

    name = "spy"
    description = "Who is the spy: one player has a different word; clue rounds, then a vote."
    open_moves = True  # a clue is any one new word; the prompt lists examples

    def __post_init__(self) -> None:
        if self.seats not in SEATS:
            raise SparringError(f"spy is played by {SEATS.start} to {SEATS.stop - 1} players, not {self.seats}")
        self.roles = tuple(f"player_{i}" for i in range(self.seats))
        if self.seats != 4:
            self.name = f"spy@{self.seats}"

    @property
    def rules_text(self) -> str:  # type: ignore[override]
        return (
            f"Who is the spy, for {self.seats} players. All players but one (the civilians) share a secret "
            "word; the spy has a different but related word. Everyone knows only their own word and whether "
            f"they are the spy. In each of {self.clue_rounds} rounds every player, in turn, says one new word "
            "as a clue about their word; a clue that is or contains your word (or is part of it) is not "
            "allowed. Then everyone votes, secretly, for the player they think is the spy. The spy is caught "
            "if it alone gets the most votes. Civilians gain what the spy loses: the more votes the spy gets, "
            "the better for civilians; a civilian who draws votes loses some."
        )

    def with_seats(self, seats: int) -> SpyGame:
        return self if seats == self.seats else SpyGame(seats, self.clue_rounds)

    def new_match(self, seed: int, rules: MatchRules = TRAINING_RULES) -> SpyMatch:
        return SpyMatch(self, seed, rules)

    def seat_metrics(self, matches: list[Match], seats: list[int]) -> dict[str, float]:
        return spy_metrics(matches, seats)

    def step_metrics(self, matches: list[Match]) -> dict[str, float]:
        return {f"{self.name}/{key}": value for key, value in spy_metrics(matches).items()}


class SpyMatch(Match):
    game: SpyGame

    def __init__(self, game: SpyGame, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        pairs = word_pairs()
        pair = pairs[int(self.rng.integers(len(pairs)))]
        civilian_word, spy_word = pair if self.rng.random() < 0.5 else pair[::-1]
        self.spy = int(self.rng.integers(game.seats))
        self.words = [spy_word if s == self.spy else civilian_word for s in range(game.seats)]
        examples = [w for w in CLUE_EXAMPLES if not reveals(w, civilian_word) and not reveals(w, spy_word)]
        self.examples = [examples[i] for i in self.rng.permutation(len(examples))]
        self.clues: list[tuple[int, str]] = []
        self.votes: dict[int, int] = {}

    # -- state ---------------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        if len(self.clues) < self.game.clue_rounds * self.game.seats:
            return "clue"
        return "vote" if len(self.votes) < self.game.seats else "over"

    def role(self, seat: int) -> str:
        return "spy" if seat == self.spy else "civilian"

    def teams(self) -> list[int]:
        return [1 if s == self.spy else 0 for s in range(self.game.seats)]

    def _engine_seat(self) -> int | None:
        if self.phase == "clue":
            return len(self.clues) % self.game.seats
        return len(self.votes) if self.phase == "vote" else None

    def legal_moves(self) -> list[str]:
        seat = self.current_seat()
        if seat is None:
            return []
        if self.phase == "vote":
            return [f"player_{s}" for s in range(self.game.seats) if s != seat]
        said = {clue for _, clue in self.clues}
        return [w for w in self.examples if w not in said][:6]

    def parse(self, text: str) -> str | None:
        seat = self.current_seat()
        if seat is None:
            return None
        if self.phase == "vote":
            return parse_move(text, self.legal_moves(), self.rules.answer_format)
        answer = extract_answer(text, self.rules.answer_format)
        if answer is None:
            return None
        clue = normalise(answer)
        if not _WORD.fullmatch(clue) or reveals(clue, self.words[seat]) or clue in {c for _, c in self.clues}:
            return None
        return clue

    def _engine_apply(self, move: str) -> None:
        seat = self.current_seat()
        if self.phase == "vote":
            self.votes[seat] = int(move.removeprefix("player_"))
        else:
            self.clues.append((seat, move))

    def _engine_returns(self) -> list[float]:
        return vote_returns(self.votes, self.spy, self.game.seats)

    def submit(self, text: str, prompt: str | None = None, **extra: Any) -> Turn:
        phase = self.phase
        turn = super().submit(text, prompt, **extra)
        turn.extra["phase"] = phase
        return turn

    # -- what players see ----------------------------------------------------------------------
    def observation_text(self, seat: int) -> str:
        who = ("You are the spy: the others share a different, related word. Blend in and avoid the votes."
               if seat == self.spy else "You are a civilian: find the player whose word differs.")
        lines = [f"You are player_{seat}. Your word: {self.words[seat]}. {who}"]
        if self.clues:
            lines.append("Clues so far:")
            lines += [f"  round {k // self.game.seats + 1}, player_{s}: {clue}" for k, (s, clue) in enumerate(self.clues)]
        if self.phase == "vote":
            lines.append("Now vote: name the player you think is the spy (not yourself).")
        else:
            lines.append("Now give your clue: one new word that fits your word without saying it.")
        return "\n".join(lines)

    # -- scoring -------------------------------------------------------------------------------
    def spy_caught(self) -> bool | None:
        """Whether the vote caught the spy (None: the match ended before the vote finished)."""
        return caught(self.votes, self.spy) if self.phase == "over" and self._final_returns is None else None

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """A civilian's vote is its own trajectory, scored +1 / -1 by whether it named the spy; every
        other turn is scored by the match return."""
        turns = [t for t in self.turns if t.seat == seat]
        if seat == self.spy or seat not in self.votes or self._final_returns is not None:
            return [(turns, self.returns()[seat])]
        clues = [t for t in turns if t.extra.get("phase") == "clue"]
        votes = [t for t in turns if t.extra.get("phase") == "vote"]
        decision = CORRECT_VOTE if self.votes[seat] == self.spy else WRONG_VOTE
        return [(clues, self.returns()[seat]), (votes, decision)]

    def trajectory_role(self, seat: int, turns: list[Turn]) -> str:
        """A civilian's votes (scored +1 / -1) are keyed ``civilian_vote``: their returns differ in kind
        from the clues' (Vision-Zero trains the two stages apart)."""
        role = self.role(seat)
        return f"{role}_vote" if turns and all(t.extra.get("phase") == "vote" for t in turns) else role

    def record(self) -> dict[str, Any]:
        return {**super().record(), "spy": self.spy, "words": self.words, "votes": self.votes,
                "caught": self.spy_caught()}


def spy_metrics(matches: list[SpyMatch], spy_seats: list[int] | None = None) -> dict[str, float]:
    """Spy win rate (the vote did not catch it) and civilian accuracy (civilian votes naming the spy)
    over finished votes. With `spy_seats` (a seat per match, or None), only that seat's view counts:
    its spy wins when it was the spy, its votes' accuracy when it was a civilian."""
    spy_games = spy_wins = votes = correct = 0
    for k, match in enumerate(matches):
        result = match.spy_caught()
        if result is None:
            continue
        seats = range(match.game.seats) if spy_seats is None else [spy_seats[k]]
        for seat in seats:
            if seat == match.spy:
                spy_games += 1
                spy_wins += not result
            else:
                votes += 1
                correct += match.votes[seat] == match.spy
    out = {}
    if spy_games:
        out["spy_win_rate"] = spy_wins / spy_games
    if votes:
        out["civilian_accuracy"] = correct / votes
    return out
