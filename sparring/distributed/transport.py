"""Played matches between processes: a worker sends each match's answers as plain data, the trainer
replays them on its own game engines (the match seed fixes every chance event, so the replay is the
match), and gets back `PlayedMatch`es with the worker's prompts, token ids and log-probs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparring.games.base import LanguageGame, MatchRules, Observation
from sparring.players.base import Action, Player
from sparring.players.rollout import MatchSpec, PlayedMatch


@dataclass
class MatchRecord:
    """One match as a worker played it."""

    game: str
    seed: int
    meta: dict[str, Any]
    seats: list[str]  # the name of each seat's player
    turns: list[tuple[int, str, str, dict[str, Any]]]  # (seat, prompt, answer text, extras) in order


def pack(played: PlayedMatch) -> MatchRecord:
    turns = [(t.seat, t.prompt, t.text, t.extra) for t in played.match.turns]
    return MatchRecord(played.spec.game.name, played.spec.seed, played.spec.meta,
                       [p.name for p in played.spec.players], turns)


class RemoteSeat(Player):
    """A seat's player as the trainer knows it when a worker played the match: its name."""

    def __init__(self, name: str):
        self.name = name

    def act_batch(self, observations: list[Observation]) -> list[Action]:
        raise RuntimeError(f"{self.name} played this match on a Ray worker; it cannot move here")


def unpack(record: MatchRecord, games: dict[str, LanguageGame], rules: MatchRules) -> PlayedMatch:
    """The match rebuilt on this process's engine from the worker's answers."""
    game = games[record.game]
    match = game.new_match(record.seed, rules)
    for seat, prompt, text, extra in record.turns:
        if match.is_over() or match.observe().seat != seat:
            raise RuntimeError(f"replaying a {record.game} match (seed {record.seed}) from a worker diverged: "
                               "the worker and the trainer run different game code")
        match.submit(text, prompt=prompt, **extra)
    if not match.is_over():
        raise RuntimeError(f"a {record.game} match (seed {record.seed}) from a worker did not end on replay")
    return PlayedMatch(MatchSpec(game, [RemoteSeat(n) for n in record.seats], record.seed, rules, record.meta), match)
