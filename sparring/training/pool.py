"""The opponent pool: who sits in the other seats of a match.

A pool holds three kinds of opponent, each with a stable id:

* ``"self"`` -- the current policy itself (pure self-play). :data:`SELF` is its sentinel:
  ``opponent.is_self`` is true and ``opponent.player`` is ``None``; the trainer seats the policy.
* ``"snapshot@STEP"`` -- a frozen copy of the policy taken at learner step STEP. Under LoRA a
  snapshot is the adapter weights only (a CPU copy of ``peft.get_peft_model_state_dict``), held
  in memory and stored in checkpoints. It plays through the *same* model as the policy: a
  :class:`SnapshotPlayer` copies its weights into a second adapter slot (``"opponent"``) of the
  peft model, activates it for one batched ``generate``, then re-activates the trainable adapter
  (also on exceptions). One model with swappable adapters, never N model copies. Full
  fine-tuning has no snapshots: :meth:`OpponentPool.add_snapshot` raises a SparringError.
* fixed players by name (``"random"``, ``"mcts:100"``, ``"cfr"``...), built with
  :func:`sparring.players.make_player`; the id is the name as configured.

Sampling rules (:meth:`OpponentPool.sample`):

* ``latest`` -- always :data:`SELF` (pure self-play; snapshots and fixed players are unused).
* ``uniform`` -- fictitious self-play: uniform over ``self`` + every snapshot + every fixed
  player. The current policy is one member of the population it best-responds to (the newest
  iterate of the average strategy, as in fictitious play), so it keeps some pure self-play;
  ``include_self=False`` drops it (``self`` is still used while the pool is otherwise empty).
* ``prioritised`` -- prioritised fictitious self-play (AlphaStar's PFSP, "squared" weighting):
  same candidates, weight ``(1 - win_rate) ** power`` with ``power = 2`` by default, normalised;
  if every weight is 0 (the policy beats everyone) sampling is uniform. ``win_rate`` is an EMA
  (``w <- decay * w + (1 - decay) * score``, decay 0.9, start 0.5 for an unseen opponent) of the
  learning seat's score against that opponent: win 1, draw 0.5, loss 0. Feed it with
  :meth:`OpponentPool.record`.

Trainer semantics: in a match against a snapshot or a fixed player the policy sits in one seat
(the *learning seat*) and only that seat's turns are trained on; in pure self-play (``self``) the
policy sits in every seat and every seat learns. :func:`seating` encodes exactly this. Snapshot
turns carry no token ids (unless ``keep_tokens``), so the rollout's default turn counting
(``is_learner_turn``) counts policy turns only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from sparring.errors import SparringError
from sparring.evaluation.stats import outcome
from sparring.games.base import Observation
from sparring.players import make_player
from sparring.players.base import Action, Player
from sparring.players.lm import LMPlayer
from sparring.training.adapters import (
    NEEDS_LORA,
    OPPONENT_ADAPTER,
    adapter_snapshot,
    opponent_adapter,
    remove_opponent_adapter,
)

__all__ = [
    "OPPONENT_ADAPTER",
    "RULES",
    "SELF",
    "Opponent",
    "OpponentPool",
    "SnapshotPlayer",
    "adapter_snapshot",
    "opponent_adapter",
    "remove_opponent_adapter",
    "score",
    "seating",
]

RULES = ("latest", "uniform", "prioritised")


@dataclass(frozen=True)
class Opponent:
    """A sampled opponent: its stable id and the player to seat (``None`` = the policy itself)."""

    id: str
    player: Player | None = None

    @property
    def is_self(self) -> bool:
        return self.player is None


SELF = Opponent("self")


def score(result: str | float) -> float:
    """The learning seat's score: "win"/"draw"/"loss" -> 1/0.5/0; a return -> 1 if > 0, 0.5 if 0, 0 if < 0."""
    if isinstance(result, str):
        table = {"win": 1.0, "draw": 0.5, "loss": 0.0}
        if result not in table:
            raise ValueError(f"unknown outcome {result!r} (use win, draw or loss)")
        return table[result]
    return 1.0 if result > 0 else 0.0 if result < 0 else 0.5


def seating(opponent: Opponent, policy: Player, num_seats: int, seat: int) -> tuple[list[Player], list[int]]:
    """(player per seat, learning seats): all seats learn against ``self``, else only ``seat``."""
    if opponent.is_self:
        return [policy] * num_seats, list(range(num_seats))
    return [policy if s == seat else opponent.player for s in range(num_seats)], [seat]


class SnapshotPlayer(LMPlayer):
    """A frozen snapshot of the policy, playing through the policy's own model.

    Each ``act_batch`` loads the snapshot's adapter weights into the ``"opponent"`` slot, makes
    it active, generates like an :class:`LMPlayer` (one batched call), and re-activates the
    trainable adapter. Its actions carry no token ids or log-probs (nothing learns from them),
    only ``num_tokens``, ``stop`` and ``opponent``; ``keep_tokens=True`` keeps the LMPlayer extras.
    """

    batched = True

    def __init__(self, model: Any, tokenizer: Any, weights: Mapping[str, torch.Tensor], name: str,
                 keep_tokens: bool = False, slot: str = OPPONENT_ADAPTER, **lm_options: Any):
        super().__init__(model, tokenizer, name=name, **lm_options)
        self.weights = weights
        self.keep_tokens = keep_tokens
        self.slot = slot

    @classmethod
    def from_policy(cls, policy: LMPlayer, weights: Mapping[str, torch.Tensor], name: str,
                    **kwargs: Any) -> SnapshotPlayer:
        """A snapshot player with the policy's model, tokenizer, template and sampling settings."""
        options = dict(template=policy.template, max_new_tokens=policy.max_new_tokens, temperature=policy.temperature,
                       top_p=policy.top_p, greedy=policy.greedy)
        options.update(kwargs)
        return cls(policy.model, policy.tokenizer, weights, name, **options)

    def act_batch(self, observations: list[Observation]) -> list[Action]:
        if not observations:
            return []
        with opponent_adapter(self.model, self.weights, self.slot):
            actions = super().act_batch(observations)
        if not self.keep_tokens:
            for action in actions:
                action.extra = {"num_tokens": action.extra["num_tokens"], "stop": action.extra["stop"],
                                "opponent": self.name}
        return actions


# ----------------------------------------------------------------------------- the pool


class OpponentPool:
    """Frozen snapshots of the policy plus fixed players, and a rule to pick one per match.

    ``rule``: "latest", "uniform" or "prioritised" (see the module doc). ``max_snapshots``: the
    cap; adding past it drops the oldest. ``fixed``: player names for ``make_player``, built once
    (with ``lm_options`` for ``lm:`` players) and re-seeded by :meth:`reseed`. ``seed`` seeds the
    fixed players and the fallback generator of :meth:`sample`. ``decay``: EMA decay of win rates.
    ``power``: p in the prioritised weight ``(1 - win_rate) ** p``.
    """

    def __init__(self, rule: Literal["latest", "uniform", "prioritised"] = "latest", max_snapshots: int = 5,
                 fixed: list[str] = (), seed: int = 0, *, decay: float = 0.9, power: float = 2.0,
                 include_self: bool = True, lm_options: Mapping[str, Any] | None = None, snapshot_every: int = 1):
        if rule not in RULES:
            raise SparringError(f"unknown pool rule {rule!r} (choose from: {', '.join(RULES)})")
        if max_snapshots < 0:
            raise SparringError(f"pool max_snapshots must be at least 0, got {max_snapshots}")
        if not 0 <= decay < 1:
            raise SparringError(f"pool win-rate decay must be in [0, 1), got {decay}")
        if power < 0:
            raise SparringError(f"pool power must be non-negative, got {power}")
        fixed = list(fixed)
        if len(set(fixed)) != len(fixed) or "self" in fixed or any(f.startswith("snapshot@") for f in fixed):
            raise SparringError(f"pool fixed players must be distinct names other than self and snapshot@N: {fixed}")
        self.rule = rule
        self.max_snapshots = max_snapshots
        self.fixed = fixed
        self.decay = decay
        self.power = power
        self.include_self = include_self
        self.snapshot_every = snapshot_every
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}  # step -> adapter weights, oldest first
        self.win_rates: dict[str, float] = {}
        self.games: dict[str, int] = {}
        self.rng = np.random.default_rng(seed)
        self.policy: LMPlayer | None = None
        self._players: dict[str, SnapshotPlayer] = {}
        self.lm_options = dict(lm_options or {})
        self._build_fixed_players()
        self.reseed(seed)

    @classmethod
    def from_config(cls, cfg: Any, seed: int = 0, lora: bool = True,
                    lm_options: Mapping[str, Any] | None = None) -> OpponentPool:
        """A pool from a :class:`sparring.config.PoolConfig`; a non-latest rule without LoRA is an error."""
        if cfg.rule != "latest" and not lora:
            raise SparringError(NEEDS_LORA)
        return cls(cfg.rule, cfg.max_snapshots, list(cfg.fixed), seed, lm_options=lm_options,
                   snapshot_every=cfg.snapshot_every)

    # -- members

    @staticmethod
    def snapshot_id(step: int) -> str:
        return f"snapshot@{step}"

    def _snapshot_step(self, opponent_id: str) -> int | None:
        """The step of a snapshot id that is in the pool, else None."""
        prefix, _, step = opponent_id.partition("@")
        if prefix == "snapshot" and step.isdigit() and int(step) in self.snapshots:
            return int(step)
        return None

    def ids(self) -> list[str]:
        """Every opponent the current rule may pick, in a fixed order: self, snapshots oldest first, fixed."""
        if self.rule == "latest":
            return ["self"]
        others = [self.snapshot_id(s) for s in self.snapshots] + list(self.fixed)
        return (["self"] if self.include_self or not others else []) + others

    def bind(self, policy: LMPlayer) -> None:
        """The policy whose model, tokenizer and sampling settings snapshot players share."""
        self.policy = policy
        self._players.clear()

    def _build_fixed_players(self) -> None:
        """Build each fixed player once (a model opponent is loaded once per run, not per step)."""
        self._fixed_players: dict[str, Player] = {name: make_player(name, **self.lm_options) for name in self.fixed}

    def reseed(self, seed: int) -> None:
        """Re-seed the fixed players from ``seed``, player i from ``[seed, i]`` (call once per step for exact resumes)."""
        self.seed = seed
        for i, player in enumerate(self._fixed_players.values()):
            player.reseed(int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))

    def add_snapshot(self, step: int, model: Any) -> str:
        """Freeze the model's active adapter as ``snapshot@step``; drop the oldest past the cap. Returns the id."""
        weights = adapter_snapshot(model)
        self.snapshots.pop(step, None)
        self.snapshots[step] = weights
        while len(self.snapshots) > self.max_snapshots:
            oldest = next(iter(self.snapshots))
            del self.snapshots[oldest]
            self._forget(self.snapshot_id(oldest))
        self._players.pop(self.snapshot_id(step), None)
        return self.snapshot_id(step)

    def _forget(self, opponent_id: str) -> None:
        self.win_rates.pop(opponent_id, None)
        self.games.pop(opponent_id, None)
        self._players.pop(opponent_id, None)

    def opponent(self, opponent_id: str) -> Opponent:
        """The opponent with this id (building its snapshot player on first use)."""
        if opponent_id == "self":
            return SELF
        if opponent_id in self._fixed_players:
            return Opponent(opponent_id, self._fixed_players[opponent_id])
        if self._snapshot_step(opponent_id) is not None:
            if opponent_id not in self._players:
                if self.policy is None:
                    raise SparringError("the opponent pool needs bind(policy) before it can seat a snapshot")
                self._players[opponent_id] = SnapshotPlayer.from_policy(
                    self.policy, self.snapshots[self._snapshot_step(opponent_id)], opponent_id)
            return Opponent(opponent_id, self._players[opponent_id])
        raise SparringError(f"no opponent {opponent_id!r} in the pool (members: {', '.join(self.ids())})")

    # -- sampling

    def win_rate(self, opponent_id: str) -> float:
        return self.win_rates.get(opponent_id, 0.5)

    def probabilities(self) -> dict[str, float]:
        """Sampling probability of every member under the current rule."""
        ids = self.ids()
        if self.rule == "prioritised":
            weights = np.array([(1.0 - self.win_rate(i)) ** self.power for i in ids])
            if weights.sum() > 0:
                return dict(zip(ids, (weights / weights.sum()).tolist()))
        return {i: 1.0 / len(ids) for i in ids}

    def sample_id(self, rng: Any = None) -> str:
        """The id of one opponent drawn by the rule; ``rng`` has ``.random()`` (numpy Generator or random.Random).

        Without ``rng`` the pool's own seeded generator is used (it is part of the state dict).
        A pool with one member draws no random number.
        """
        probs = self.probabilities()
        if len(probs) == 1:
            return next(iter(probs))
        u = (rng if rng is not None else self.rng).random()
        cumulative = np.cumsum(list(probs.values()))
        return list(probs)[min(int(np.searchsorted(cumulative, u, side="right")), len(probs) - 1)]

    def sample(self, rng: Any = None) -> Opponent:
        """One opponent drawn by the rule (:data:`SELF` for the policy itself), ready to seat."""
        return self.opponent(self.sample_id(rng))

    def record_matches(self, played: list[Any]) -> None:
        """Fold each learning seat's result of the step's played matches into its opponent's win rate."""
        for pm in played:
            for seat in pm.spec.meta["learning_seats"]:
                self.record(pm.spec.meta["opponent"], outcome(pm.match.returns(), seat, pm.match.teams()))

    def record(self, opponent_id: str, result: str | float) -> None:
        """Fold one match of the learning seat into the opponent's win-rate EMA (unknown ids are ignored)."""
        if opponent_id != "self" and opponent_id not in self.fixed and self._snapshot_step(opponent_id) is None:
            return
        self.win_rates[opponent_id] = self.decay * self.win_rate(opponent_id) + (1 - self.decay) * score(result)
        self.games[opponent_id] = self.games.get(opponent_id, 0) + 1

    # -- logging and checkpoints

    @property
    def tokens_generated(self) -> int:
        """Tokens generated by snapshot players (the policy counts its own)."""
        return sum(p.tokens_generated for p in self._players.values())

    @property
    def generation_seconds(self) -> float:
        """Seconds snapshot and LM players of the pool spent generating."""
        return sum(getattr(p, "generation_seconds", 0.0) for p in self._players.values())

    def after_update(self, model: Any, step: int, metrics: Mapping[str, float]) -> None:
        """Every `snapshot_every` steps (under a rule that draws snapshots) freeze the policy as a member."""
        if self.rule != "latest" and step % self.snapshot_every == 0:
            self.add_snapshot(step, model)

    def metrics(self) -> dict[str, float]:
        """``pool/snapshots``, and per member ``pool/prob/ID``, ``pool/win_rate/ID``, ``pool/games/ID``."""
        out: dict[str, float] = {"pool/snapshots": float(len(self.snapshots))}
        for i, p in self.probabilities().items():
            out[f"pool/prob/{i}"] = p
            out[f"pool/win_rate/{i}"] = self.win_rate(i)
            out[f"pool/games/{i}"] = float(self.games.get(i, 0))
        return out

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs (torch.save-able): rule, settings, snapshots, win rates, RNG."""
        return {
            "rule": self.rule, "max_snapshots": self.max_snapshots, "fixed": list(self.fixed),
            "decay": self.decay, "power": self.power, "include_self": self.include_self,
            "snapshots": [{"step": step, "weights": dict(w)} for step, w in self.snapshots.items()],
            "win_rates": dict(self.win_rates), "games": dict(self.games),
            "rng": copy.deepcopy(self.rng.bit_generator.state),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` exactly (fixed players are rebuilt if the list changed)."""
        if state["rule"] not in RULES:
            raise SparringError(f"unknown pool rule {state['rule']!r} in a checkpoint")
        fixed_changed = list(state["fixed"]) != self.fixed
        self.rule = state["rule"]
        self.max_snapshots = int(state["max_snapshots"])
        self.fixed = list(state["fixed"])
        self.decay = float(state["decay"])
        self.power = float(state["power"])
        self.include_self = bool(state["include_self"])
        self.snapshots = {int(s["step"]): {k: v.detach().cpu().clone() for k, v in s["weights"].items()}
                          for s in state["snapshots"]}
        self.win_rates = {k: float(v) for k, v in state["win_rates"].items()}
        self.games = {k: int(v) for k, v in state["games"].items()}
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._players.clear()
        if fixed_changed:
            self._build_fixed_players()
            self.reseed(self.seed)
