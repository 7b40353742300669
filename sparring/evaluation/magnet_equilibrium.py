"""The policy a uniform magnet of a given strength leaves, computed exactly on a small OpenSpiel game.

sparring's loss at a decision is ``-A * log pi(answer) + coef * KL(pi || uniform)`` over the decision's
legal answers (``constant_length: 1``). Its expected gradient vanishes where, at every information
state, ``pi(a)`` is proportional to ``exp(Q(a) / coef)``, with ``Q(a)`` the expected return of move
``a`` given that information state: the agent-form logit quantal response equilibrium of temperature
``coef``. Its exploitability is the level an update with a magnet of that strength settles at, whatever
the model (a run can pass below it on the way, not stay there).

It differs from OpenSpiel's ``mmd_dilated`` (dilated entropy), whose regulariser at a state is weighted
by the player's own reach only, so its temperature at a state grows as the opponent and chance reach
it less, and its equilibria are far more exploitable at the same temperature.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyspiel
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability


@dataclass
class MagnetEquilibrium:
    policy: policy_lib.TabularPolicy
    exploitability: float
    residual: float  # the largest |pi(a) - softmax(Q / coef)(a)| left: 0 at the fixed point


def conditional_action_values(game: pyspiel.Game, policy: policy_lib.TabularPolicy) -> np.ndarray:
    """``[information states, actions]``: each move's expected return to the acting player, given the
    information state, when every player plays ``policy``."""
    probs = policy.action_probability_array
    values = np.zeros_like(probs)
    weights = np.zeros(len(probs))

    def visit(state: pyspiel.State, reach: tuple[float, ...]) -> np.ndarray:
        """Every player's expected return from ``state``; ``reach`` holds each player's own reach
        probability and, last, chance's."""
        if state.is_terminal():
            return np.asarray(state.returns())
        if state.is_chance_node():
            return sum(p * visit(state.child(action), reach[:-1] + (reach[-1] * p,))
                       for action, p in state.chance_outcomes())
        player = state.current_player()
        row = policy.state_lookup[state.information_state_string(player)]
        others = math.prod(reach[:player] + reach[player + 1:])  # how often the others and chance lead here
        total = np.zeros(game.num_players())
        for action in state.legal_actions():
            p = probs[row, action]
            child = visit(state.child(action), reach[:player] + (reach[player] * p,) + reach[player + 1:])
            values[row, action] += others * child[player]
            total += p * child
        weights[row] += others
        return total

    visit(game.new_initial_state(), (1.0,) * (game.num_players() + 1))
    return values / np.maximum(weights, 1e-300)[:, None]


def magnet_equilibrium(game: pyspiel.Game, coef: float, iterations: int = 400, damping: float = 0.1
                       ) -> MagnetEquilibrium:
    """The fixed point by damped iteration from the uniform policy: each round moves every information
    state ``damping`` of the way toward ``softmax(Q / coef)`` over its legal moves."""
    if coef <= 0:
        raise ValueError(f"the magnet coefficient must be positive (got {coef})")
    policy = policy_lib.TabularPolicy(game)
    legal = policy.legal_actions_mask.astype(bool)
    probs = policy.action_probability_array
    probs[:] = legal / legal.sum(1, keepdims=True)

    def target() -> np.ndarray:
        logits = np.where(legal, conditional_action_values(game, policy) / coef, -np.inf)
        weights = np.exp(logits - logits.max(1, keepdims=True))
        return weights / weights.sum(1, keepdims=True)

    for _ in range(iterations):
        probs[:] = (1 - damping) * probs + damping * target()
    residual = float(np.abs(probs - target()).max())
    return MagnetEquilibrium(policy, float(exploitability.exploitability(game, policy)), residual)
