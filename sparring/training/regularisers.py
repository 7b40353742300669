"""Regularisers that make self-play converge instead of cycling or collapsing to a pure strategy.

* **Magnet KL** (magnetic mirror descent, Sokota et al. 2023): at every decision the loss adds
  ``coef * KL(pi || magnet)`` over the *legal answers* of that decision. ``pi`` is the policy's
  distribution over the legal moves' answer texts (each answer's sequence probability,
  renormalised over the legal answers: the strategy the exploitability scorer reads), and the
  magnet is one of

  - ``uniform``: every legal answer equally likely (the KL is then ``log K`` minus the answer
    entropy: an answer-level entropy bonus);
  - ``initial``: the model before training (under LoRA: adapters off);
  - ``ema``: an exponential moving average of the trainable (LoRA) weights;
  - ``lagged``: the policy of ``magnet_lag`` learner steps ago.

* **Entropy bonus**: ``-coef * H`` per completion token (the sampling distribution's entropy over
  the whole vocabulary), which keeps token-level sampling from collapsing.

Both coefficients follow a :func:`coefficient` schedule over learner steps.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from typing import Any

import torch

from sparring.errors import SparringError
from sparring.training.adapters import AdapterAverage, adapter_snapshot

MOVING_MAGNETS = ("ema", "lagged")
SCHEDULES = ("constant", "linear", "power")


def coefficient(base: float, schedule: str, step: int, anneal_steps: int, power: float) -> float:
    """A regulariser's weight at learner step ``step`` (1-based).

    ``constant``: ``base``. ``linear``: from ``base`` at step 1 down to 0 at ``anneal_steps + 1``.
    ``power``: ``base * step ** -power`` (power-law annealing, slower than linear at the end).
    """
    if schedule == "constant":
        return base
    if schedule == "linear":
        return base * max(0.0, 1.0 - (step - 1) / anneal_steps)
    if schedule == "power":
        return base * step ** -power
    raise SparringError(f"unknown coefficient schedule {schedule!r} (choose from: {', '.join(SCHEDULES)})")


def answer_kl(answer_logps: torch.Tensor, magnet_logps: torch.Tensor | None = None) -> torch.Tensor:
    """``KL(pi || m)`` over K legal answers, from unnormalised log-probabilities ``[K]``.

    ``pi = softmax(answer_logps)``; ``m = softmax(magnet_logps)``, or uniform when None.
    """
    log_pi = torch.log_softmax(answer_logps, dim=-1)
    if magnet_logps is None:
        log_m = torch.full_like(log_pi, -math.log(answer_logps.shape[-1]))
    else:
        log_m = torch.log_softmax(magnet_logps.to(log_pi.dtype), dim=-1)
    return (log_pi.exp() * (log_pi - log_m)).sum(-1)


class MovingMagnet:
    """The weights of a moving magnet (LoRA adapter tensors): an EMA of the policy, or the policy K steps ago.

    :meth:`update` is called after every learner step with the model; :attr:`weights` is the magnet
    now. Before the first update the magnet is the policy at the start of training. Needs LoRA: a
    magnet is an adapter state, played through the policy's own model like a pool snapshot.
    """

    def __init__(self, kind: str, model: Any, decay: float = 0.9, lag: int = 5):
        if kind not in MOVING_MAGNETS:
            raise SparringError(f"a moving magnet is one of {', '.join(MOVING_MAGNETS)}, not {kind!r}")
        if lag < 1:
            raise SparringError(f"algo.magnet_lag must be at least 1, got {lag}")
        self.kind = kind
        self.lag = lag
        self.ema = AdapterAverage(model, decay, "algo.magnet_ema_decay")
        self.history: collections.deque[dict[str, torch.Tensor]] = collections.deque([self.ema.weights], maxlen=lag + 1)

    @property
    def weights(self) -> Mapping[str, torch.Tensor]:
        return self.ema.weights if self.kind == "ema" else self.history[0]

    def update(self, model: Any) -> None:
        if self.kind == "ema":
            self.ema.update(model)
        else:
            self.history.append(adapter_snapshot(model))

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ema": self.ema.weights, "history": list(self.history)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state["kind"] != self.kind:
            raise SparringError(f"the checkpoint's magnet is {state['kind']!r}, the config's {self.kind!r}")
        self.ema.weights = dict(state["ema"])
        self.history = collections.deque(state["history"], maxlen=self.lag + 1)
