"""Self-imitation from a replay buffer (``spear``, after SPEAR: "Learn the Ropes, Then Trust the Wins").

Policy gradient as usual, plus a buffer of the policy's own turns that scored a positive advantage when they
were played (the highest kept, `spear.buffer_size`). Each step replays up to `spear.replay` of them beside the
step's own turns with the self-imitation advantage ``sil_coef * max(0, R - b)``: the turn's recorded return
against the current baseline of its (game, role), so a win the policy now reaches anyway (the baseline rose
to it) stops being imitated; under PPO the clip bounds how far one replay moves the policy, and the learner's
truncated importance weights correct for the older policy that sampled it. The coefficient grows from 0 over
`spear.warmup_steps` (the policy first learns from its own play, then trusts its wins). The buffer is saved in
checkpoints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from sparring.players.rollout import PlayedMatch
from sparring.training.advantages import TurnSample
from sparring.training.algorithms.base import Batch, Context
from sparring.training.algorithms.policy_gradient import PolicyGradient
from sparring.training.learner import LearnerSample


@dataclass
class Replay:
    """A buffered turn: its tokens, and the return and advantage it was played with."""

    sample: LearnerSample
    game: str
    seat_return: float
    advantage: float


class Spear(PolicyGradient):
    def __init__(self, context: Context):
        super().__init__(context)
        self.spear = context.cfg.spear
        self.buffer: list[Replay] = []  # highest advantage first
        self.coef = 0.0
        self.replayed: list[float] = []  # this step's self-imitation advantages

    def samples(self, played: list[PlayedMatch], step: int) -> Batch:
        warmup = self.spear.warmup_steps
        self.coef = self.spear.sil_coef * (min(1.0, step / warmup) if warmup else 1.0)
        return super().samples(played, step)

    def learner_samples(self, scored: list[TurnSample], tokens: dict) -> list[LearnerSample]:
        fresh = super().learner_samples(scored, tokens)
        replayed = []
        for entry in self.buffer if self.coef else []:
            gap = entry.seat_return - self.baselines.values.get((entry.game, entry.sample.role), 0.0)
            if gap > 0 and len(replayed) < self.spear.replay:
                replayed.append(replace(entry.sample, advantage=self.coef * gap))
        self.replayed = [s.advantage for s in replayed]
        self.admit(scored, fresh)  # after the replay: a step never replays its own turns
        return fresh + replayed

    def admit(self, scored: list[TurnSample], fresh: list[LearnerSample]) -> None:
        """The step's turns of positive advantage join the buffer, which keeps the highest."""
        new = [Replay(sample, turn.game, turn.seat_return, turn.advantage)
               for turn, sample in zip(scored, fresh) if turn.advantage > 0]
        self.buffer = sorted(self.buffer + new, key=lambda entry: -entry.advantage)[:self.spear.buffer_size]

    def metrics(self) -> dict[str, float]:
        return {"spear/buffer": float(len(self.buffer)), "spear/replayed": float(len(self.replayed)),
                "spear/sil_coef": self.coef,
                "spear/replay_advantage": sum(self.replayed) / len(self.replayed) if self.replayed else 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "buffer": [asdict(entry) for entry in self.buffer]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        entries = state.get("buffer", [])  # a policy-gradient run's checkpoint: the buffer starts empty
        self.buffer = [Replay(**{**entry, "sample": LearnerSample(**entry["sample"])}) for entry in entries]
