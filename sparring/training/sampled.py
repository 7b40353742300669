"""Sampled action values (``algo.advantage: sampled``): each decision's ``Q(s, a) - V(s)`` estimated from the
step's own matches, with no game tree, so it trains any game whose moves are a list (Liar's Dice, Hanabi...).

A question is what the model is asked: its prompt and its legal moves (an information state as the model reads
it). Every decision of the step is one visit: the move it played and the return its seat got. ``Q(s, a)`` is
the mean return of the visits that played ``a`` at ``s``. Since the policy picks ``a`` from what it sees at ``s``
alone, the histories behind those visits are drawn as the exact values weigh them (chance and the other seats'
reach), so the mean estimates the exact ``Q(s, a)`` without bias. ``V(s)`` weighs the sampled moves' values by
the played probabilities, renormalised over the moves sampled there; a move never sampled at ``s`` gets the
advantage 0 (its probability then moves only with the normaliser and the magnet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sparring.games.base import Match
from sparring.training.learner import LearnerSample

QuestionKey = tuple[tuple[int, ...], tuple[str, ...]]  # (prompt tokens, legal moves)


@dataclass
class Question:
    """The visits of one question in a step: per move, the sum and count of the returns that followed it."""

    moves: tuple[str, ...]
    probs: list[float]  # each legal move's probability as played
    sample: LearnerSample  # the first visit's token view (prompt, played answer, legal answers)
    totals: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.totals = [0.0] * len(self.moves)
        self.counts = [0] * len(self.moves)

    def visit(self, move: str, ret: float) -> None:
        k = self.moves.index(move)
        self.totals[k] += ret
        self.counts[k] += 1

    def advantages(self) -> list[float]:
        """``Q(s, a) - V(s)`` per legal move; 0 for a move not sampled here."""
        sampled = [k for k, n in enumerate(self.counts) if n]
        q = {k: self.totals[k] / self.counts[k] for k in sampled}
        mass = sum(self.probs[k] for k in sampled)
        v = sum(self.probs[k] * q[k] for k in sampled) / mass if mass > 0 else sum(q.values()) / len(q)
        return [q[k] - v if k in q else 0.0 for k in range(len(self.moves))]


class SampledValues:
    """The action values of every question a step's matches reached, read off the matches' returns."""

    def __init__(self) -> None:
        self.questions: dict[QuestionKey, Question] = {}

    def add(self, sample: LearnerSample, moves: list[str], probs: list[float], move: str, ret: float) -> None:
        """One decision: its token view, its legal moves and their probabilities, the move played, its return."""
        key = (tuple(sample.prompt_ids), tuple(moves))
        question = self.questions.get(key)
        if question is None:
            question = self.questions[key] = Question(tuple(moves), list(probs), sample)
        question.visit(move, ret)

    def add_match(self, match: Match, seats: list[int], answers) -> None:
        """Every decision the learning `seats` made by choosing among the legal moves (`answers(format, move,
        moves)`: a move's answer tokens)."""
        for seat in seats:
            for turns, ret in match.scored_turns(seat):
                for turn in turns:
                    extra = turn.extra
                    if "legal_probs" not in extra or turn.move is None:
                        continue
                    moves = extra["legal_moves"]
                    legal = [answers(match.rules.answer_format, m, moves) for m in moves]
                    sample = LearnerSample(extra["prompt_ids"], extra["completion_ids"], extra["logprobs"], 0.0, legal,
                                           role=match.trajectory_role(seat, turns))
                    self.add(sample, moves, extra["legal_probs"], turn.move, ret)

    def advantage(self, turn_extra: dict) -> dict[str, float]:
        """Each legal move's advantage at the question a turn was asked."""
        question = self.questions.get((tuple(turn_extra["prompt_ids"]), tuple(turn_extra["legal_moves"])))
        return dict(zip(question.moves, question.advantages())) if question else {}

    def seat_advantages(self, match: Match, seat: int, turns: list) -> list[dict[str, float]]:
        """For each of `turns` (one scored trajectory of `seat`), in order: every legal move's ``Q(s, move) - V(s)``."""
        return [self.advantage(turn.extra) if "legal_probs" in turn.extra else {} for turn in turns]

    def state_samples(self) -> list[LearnerSample]:
        """One learner sample per question reached (merged: the learner's cost is the distinct questions, not
        the decisions), its legal answers' advantages and probabilities as played."""
        return [LearnerSample(q.sample.prompt_ids, q.sample.completion_ids, q.sample.sampling_logprobs, 0.0,
                              legal_answers=q.sample.legal_answers, answer_advantages=q.advantages(),
                              answer_probs=list(q.probs), role=q.sample.role)
                for q in self.questions.values()]

    def metrics(self) -> dict[str, float]:
        """How many questions the step reached, and the share of them with two or more moves sampled."""
        reached = list(self.questions.values())
        compared = sum(1 for q in reached if sum(1 for n in q.counts if n) >= 2)
        return {"sampled/questions": float(len(reached)),
                "sampled/compared_share": compared / len(reached) if reached else 0.0,
                "sampled/visits": float(sum(sum(q.counts) for q in reached))}
