"""Per-role adapters (`model.adapters_per_role`): one LoRA adapter per role on the one base model, each
trained by a `Learner` of its own (its own optimiser state), on its role's turn samples only.

peft makes only the active adapter's weights trainable, so each role's learner is built, and steps,
with its adapter active; the rollout answers each seat through its role's adapter
(`sparring.players.lm.LMPlayer.role_adapters`).
"""

from __future__ import annotations

from typing import Any

from sparring.training.learner import Learner, LearnerSample, Objective


def run_roles(games: Any) -> list[str]:
    """The roles of the run's games, in order, each once: the adapters' names."""
    return list(dict.fromkeys(role for game in games for role in game.roles))


class RoleLearners:
    """A `Learner` per role adapter; `step` trains each on its own role's samples."""

    def __init__(self, model: Any, *args: Any, roles: list[str], **kwargs: Any):
        self.model = model
        self.learners: dict[str, Learner] = {}
        for role in roles:
            model.set_adapter(role)  # the learner's parameters: this adapter's, the only trainable ones now
            self.learners[role] = Learner(model, *args, **kwargs)
        model.set_adapter(roles[0])

    def step(self, samples: list[LearnerSample], step: int = 1, *, objective: Objective, context: Any = None
             ) -> dict[str, float]:
        """One learner step per role with samples; statistics keyed `NAME/ROLE` (each role runs its own prompt
        context, under its own adapter)."""
        stats: dict[str, float] = {}
        for role, learner in self.learners.items():
            mine = [s for s in samples if s.role == role]
            if mine:
                self.model.set_adapter(role)
                learned = learner.step(mine, step, objective=objective)
                stats.update({f"{key}/{role}": value for key, value in learned.items()})
        self.model.set_adapter(next(iter(self.learners)))
        return stats

    def state_dict(self) -> dict[str, Any]:
        return {role: learner.state_dict() for role, learner in self.learners.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for role, learner in self.learners.items():
            learner.load_state_dict(state[role])
