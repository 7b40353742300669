"""What a game whose returns come from a judge shares: the game and match that ask a judge for a
`Verdict` (`sparring.judges.protocol`) once the last seat answered, and the record of its judging.
Each game that sparring writes owns its rule judge, in its own module.
"""

from __future__ import annotations

from typing import Any

from sparring.games.base import LanguageGame, Match, Turn
from sparring.judges.protocol import MatchJudge, Verdict


class JudgedGame(LanguageGame):
    """A game whose answers are open text and whose returns a judge gives. Subclasses set `_judge`
    (None: the default judge, built on first use by `default_judge`)."""

    open_moves = True
    fixed_players_play = False
    _judge: MatchJudge | None = None

    @property
    def judge(self) -> MatchJudge:
        if self._judge is None:
            self._judge = self.default_judge()
        return self._judge

    def default_judge(self) -> MatchJudge:
        raise NotImplementedError


class JudgedMatch(Match):
    """A match of a `JudgedGame`: open answers, the judge's `verdict` once the last seat answered."""

    verdict: Verdict | None = None

    def legal_moves(self) -> list[str]:
        return []  # open answers, parsed by `parse`

    def _engine_returns(self) -> list[float]:
        return list(self.verdict.returns)

    def prompt(self, seat: int) -> str:
        lines = [*self.header(seat), self.observation_text(seat)]
        if self._failed_attempts:
            lines.append("Your previous reply held no valid answer in that format.")
        return "\n".join(lines)

    def scored_turns(self, seat: int) -> list[tuple[list[Turn], float]]:
        """A match the turn limit cut before the judge ruled trains nothing: its draw judged no answer."""
        return [] if self.cut else super().scored_turns(seat)


def turn_trajectories(match: Match, seat: int, rewards: list[float | None]) -> list[tuple[list[Turn], float]]:
    """Each of the seat's turns as its own trajectory with its reward (a solver's attempts); a turn whose
    reward is None trains nothing."""
    turns = [t for t in match.turns if t.seat == seat]
    return [([turn], reward) for turn, reward in zip(turns, rewards) if reward is not None]


def judge_record(match: Any, verdict: Verdict | None) -> dict[str, Any] | None:
    """What a match record says of its judging: the judge's kind and verdict; for a match an invalid
    answer or the turn limit ended before the judge was needed, the referee's returns and reason; None
    while it runs."""
    if verdict is not None:
        return {"kind": match.game.judge.kind, **verdict.to_dict()}
    if not match.is_over():
        return None
    if match.cut:
        return {"kind": "referee", "returns": match.returns(),
                "reason": f"cut: the turn limit (max_turns {match.rules.max_turns}) ended the match after "
                          f"{match.moves_made} moves, before the judge ruled; a draw that trains nothing"}
    seat = next(t.seat for t in reversed(match.turns) if not t.valid)
    return {"kind": "referee", "returns": match.returns(),
            "reason": f"format loss: the {match.game.roles[seat]}'s answer was not a valid answer"}
