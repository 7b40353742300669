"""Advantage estimators: turn samples in, the same turns with ``advantage`` filled out.

A *seat trajectory* is every turn one seat played in one match, keyed by
``(match_id, game, role)``. Estimators never modify their input: each returns new
:class:`TurnSample` objects (``dataclasses.replace``) with ``advantage`` set,
ordered by seat trajectory (first appearance in the input), turns by ``turn_index``.

* ``rae``  -- SPIRAL role-conditioned advantage: ``A = R - b`` with an EMA baseline ``b``
  per (game, role), the same ``A`` for every turn of the seat (gamma 1).
* ``mars`` -- MARS turn level: reward-to-go (gamma 1) over the seat's turns, then
  normalised per (game, role) across the batch.
* ``grpo`` -- group relative: ``A = (R - mean) / (std + eps)`` over the seat returns of a
  group (Dr. GRPO with ``scale=False``: no division). A group is (game, group key, role): seats
  of different roles are never compared, so in zero-sum self-play the better player_0 of a
  group gets a positive advantage even though player_0's and player_1's returns cancel.
* ``exact`` -- the advantage each sample already carries: ``Q(s, a) - V(s)`` read off the game tree
  under the current policy (`sparring.training.exact`, set by the exact algorithm); only ordered here.
* ``trr``  -- Absolute Zero's task-relative REINFORCE++: ``A = (R - mean) / (std + eps)`` over
  the seat returns of the batch with the same (game, task, role); samples without a task are
  grouped by (game, role).

Standard deviations are population ones (``ddof=0``), so a group of one has std 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SeatKey = tuple[int, str, str]  # (match_id, game, role)


@dataclass
class TurnSample:
    """One LM turn of one seat in one match.

    ``reward`` is the per-turn reward used by ``mars`` (e.g. a shaped +0.05 for a legal
    move); the caller adds the seat's final return to the reward of the seat's last turn.
    ``seat_return`` is the seat's final return R of the match, identical on all its turns.
    """

    game: str
    role: str
    match_id: int
    turn_index: int
    num_tokens: int
    reward: float
    seat_return: float
    group: str | None = None
    advantage: float = 0.0
    task: str | None = None  # e.g. the task type of a task game; ``trr`` normalises per (game, task, role)


@dataclass
class RAEBaselines:
    """EMA baselines per (game, role) for RAE; every baseline starts at 0."""

    decay: float = 0.95
    values: dict[tuple[str, str], float] = field(default_factory=dict)

    def update(self, game: str, role: str, ret: float) -> tuple[float, float]:
        """Fold ``ret`` into the (game, role) baseline; return (before, after) the update."""
        pre = self.values.get((game, role), 0.0)
        post = self.decay * pre + (1.0 - self.decay) * ret
        self.values[(game, role)] = post
        return pre, post

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able form for checkpoints: baselines keyed ``"game/role"``."""
        return {
            "decay": self.decay,
            "values": {f"{game}/{role}": b for (game, role), b in self.values.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RAEBaselines:
        """Inverse of :meth:`to_dict` (the role is the text after the last ``/``)."""
        values: dict[tuple[str, str], float] = {}
        for key, b in data["values"].items():
            game, role = key.rsplit("/", 1)
            values[(game, role)] = float(b)
        return cls(decay=float(data["decay"]), values=values)


def _seats(samples: Sequence[TurnSample]) -> dict[SeatKey, list[TurnSample]]:
    """Group samples by seat trajectory, in order of first appearance, turns sorted."""
    seats: dict[SeatKey, list[TurnSample]] = {}
    for s in samples:
        seats.setdefault((s.match_id, s.game, s.role), []).append(s)
    for key, turns in seats.items():
        if len({t.seat_return for t in turns}) != 1:
            raise ValueError(f"seat {key} has turns with different seat_return")
        turns.sort(key=lambda t: t.turn_index)
    return seats


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    mean = sum(xs) / len(xs)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))


def rae_advantages(
    samples: Sequence[TurnSample],
    state: RAEBaselines | None,
    *,
    baseline: Literal["pre", "post"] = "pre",
) -> list[TurnSample]:
    """SPIRAL role-conditioned advantage estimation; updates ``state`` in place.

    Seats are processed in order of first appearance. For each seat: read b, update the
    (game, role) EMA with R, then ``A = R - b`` (``baseline="pre"``, SPIRAL) or
    ``A = R - b_updated`` (``"post"``). Samples with ``A == 0`` are kept: dropping them is the
    trainer's choice, after the curriculum has seen them.
    """
    if state is None:
        raise ValueError("rae needs an RAEBaselines state")
    if baseline not in ("pre", "post"):
        raise ValueError(f"baseline must be 'pre' or 'post', got {baseline!r}")
    out: list[TurnSample] = []
    for (_, game, role), turns in _seats(samples).items():
        ret = turns[0].seat_return
        pre, post = state.update(game, role, ret)
        adv = ret - (pre if baseline == "pre" else post)
        out.extend(dataclasses.replace(t, advantage=adv) for t in turns)
    return out


def mars_advantages(
    samples: Sequence[TurnSample], state: None = None, *, eps: float = 1e-8
) -> list[TurnSample]:
    """MARS turn-level advantage: reward-to-go, then per-agent normalisation.

    Turn t of a seat gets ``G_t = sum(reward of turns t..last)`` (gamma 1). Then, across all
    turns of the batch with the same (game, role): ``A = (G - mean) / (std + eps)``; when that
    std is 0 (e.g. a single turn) ``A = G - mean``. ``state`` is unused.
    """
    out: list[TurnSample] = []
    for turns in _seats(samples).values():
        to_go = 0.0
        rtg: list[TurnSample] = []
        for t in reversed(turns):
            to_go += t.reward
            rtg.append(dataclasses.replace(t, advantage=to_go))
        out.extend(reversed(rtg))
    by_agent: dict[tuple[str, str], list[TurnSample]] = {}
    for s in out:
        by_agent.setdefault((s.game, s.role), []).append(s)
    for group in by_agent.values():
        mean, std = _mean_std([s.advantage for s in group])
        for s in group:
            s.advantage = (s.advantage - mean) / (std + eps) if std > 0 else s.advantage - mean
    return out


def grpo_advantages(
    samples: Sequence[TurnSample],
    state: None = None,
    *,
    scale: bool = True,
    eps: float = 1e-6,
) -> list[TurnSample]:
    """Group-relative advantage over seat returns; every turn of a seat gets its seat's A.

    Seats sharing (game, ``group``, role) form a group with one R per seat (not per turn):
    ``A = (R - mean) / (std + eps)``, or ``A = R - mean`` with ``scale=False`` (Dr. GRPO).
    ``state`` is unused.
    """
    seats = _seats(samples)
    groups: dict[tuple[str, str, str], list[SeatKey]] = {}
    for key, turns in seats.items():
        names = {t.group for t in turns}
        group = names.pop() if len(names) == 1 else None
        if group is None:
            raise ValueError(f"seat {key} needs exactly one non-None group key")
        _, game, role = key
        groups.setdefault((game, group, role), []).append(key)
    seat_adv: dict[SeatKey, float] = {}
    for keys in groups.values():
        mean, std = _mean_std([seats[k][0].seat_return for k in keys])
        for k in keys:
            centred = seats[k][0].seat_return - mean
            seat_adv[k] = centred / (std + eps) if scale else centred
    return [dataclasses.replace(t, advantage=seat_adv[k]) for k, ts in seats.items() for t in ts]


def trr_advantages(
    samples: Sequence[TurnSample], state: None = None, *, eps: float = 1e-6
) -> list[TurnSample]:
    """Task-relative normalisation (AZR's TRR++): one R per seat, normalised within its
    (game, task, role) batch, ``A = (R - mean) / (std + eps)``, or ``A = R - mean`` when that std
    is 0; every turn of a seat gets its seat's A. ``state`` is unused.
    """
    seats = _seats(samples)
    batches: dict[tuple[str, str | None, str], list[SeatKey]] = {}
    for key, turns in seats.items():
        batches.setdefault((turns[0].game, turns[0].task, turns[0].role), []).append(key)
    seat_adv: dict[SeatKey, float] = {}
    for keys in batches.values():
        mean, std = _mean_std([seats[k][0].seat_return for k in keys])
        for k in keys:
            centred = seats[k][0].seat_return - mean
            seat_adv[k] = centred / (std + eps) if std > 0 else centred
    return [dataclasses.replace(t, advantage=seat_adv[k]) for k, ts in seats.items() for t in ts]


def exact_advantages(samples: Sequence[TurnSample], state: None = None) -> list[TurnSample]:
    """The advantages the samples carry (exact action values, set by the exact algorithm), in seat order."""
    return [dataclasses.replace(t) for turns in _seats(samples).values() for t in turns]


Estimator = Callable[..., list[TurnSample]]

ESTIMATORS: dict[str, Estimator] = {
    "rae": rae_advantages,
    "mars": mars_advantages,
    "grpo": grpo_advantages,
    "trr": trr_advantages,
    "exact": exact_advantages,
    "sampled": exact_advantages,  # sampled action values, carried the same way
}


def estimate_advantages(
    name: str, samples: Sequence[TurnSample], state: RAEBaselines | None = None, **cfg: Any
) -> list[TurnSample]:
    """Run the estimator registered as ``name`` (see ``ESTIMATORS``) with options ``cfg``."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown advantage estimator {name!r}; known: {sorted(ESTIMATORS)}")
    return ESTIMATORS[name](samples, state, **cfg)
