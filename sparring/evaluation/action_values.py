"""Exact action values of a policy on a small two-player zero-sum OpenSpiel game.

``Q(s, a)`` is what the player to move at information state ``s`` expects to win by playing ``a``
there and following the policy afterwards, every seat playing the policy: the mean over the
histories ``h`` in ``s`` of the value of ``h`` then ``a``, each weighted by how likely chance and the
other seat make ``h`` (the mover's own reach is the same for every ``h`` in ``s``, so it cancels).

A self-play gradient estimated from these values has none of the noise of sampled returns: a
sampled decision's advantage ``Q(s, a) - V(s)``, ``V(s) = sum_a pi(a|s) Q(s, a)``, is exact. It needs
the policy at every information state and one walk of the whole tree, so it is for games small
enough to enumerate (Kuhn: 12 information states, 58 histories; Leduc: 936, about 10 000).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyspiel
from open_spiel.python import policy as policy_lib

ActionValues = dict[str, dict[int, float]]  # information state string -> action -> Q


def action_values(engine: pyspiel.Game, policy: policy_lib.Policy) -> ActionValues:
    """``Q(s, a)`` for every information state ``s`` that chance and the other seat reach with a positive
    probability (an unreachable one has no on-policy value and is left out)."""
    weighted: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    weights: dict[str, float] = defaultdict(float)

    def walk(state: pyspiel.State, others_reach: np.ndarray) -> np.ndarray:
        """The returns the policy expects from `state`; `others_reach[p]` is the probability that chance and
        every seat but p play to `state`."""
        if state.is_terminal():
            return np.asarray(state.returns(), dtype=float)
        if state.is_chance_node():
            value = 0.0
            for action, p in state.chance_outcomes():
                value = value + p * walk(state.child(action), others_reach * p)
            return value
        player = state.current_player()
        key = state.information_state_string(player)
        mover = np.ones_like(others_reach)
        value = 0.0
        for action, p in policy.action_probabilities(state).items():
            mover[:] = p
            mover[player] = 1.0
            child = walk(state.child(action), others_reach * mover)
            value = value + p * child
            weighted[key][action] += others_reach[player] * child[player]
        weights[key] += others_reach[player]
        return value

    walk(engine.new_initial_state(), np.ones(engine.num_players()))
    return {key: {a: float(total / weights[key]) for a, total in by_action.items()}
            for key, by_action in weighted.items() if weights[key] > 0}


def decision_states(engine: pyspiel.Game, history: list[int]) -> list[tuple[int, str, pyspiel.State]]:
    """(seat, information state string, a copy of the state) of every decision along an action history, in order."""
    state = engine.new_initial_state()
    decisions = []
    for action in history:
        if not state.is_chance_node():
            player = state.current_player()
            decisions.append((player, state.information_state_string(player), state.clone()))
        state.apply_action(action)
    return decisions
