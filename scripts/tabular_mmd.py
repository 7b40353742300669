"""What exact self-play with a uniform magnet reaches when the policy is a table: the reference for the LM runs.

    python scripts/tabular_mmd.py leduc_poker --steps 40 --eta 0.1 0.3 1.0
    python scripts/tabular_mmd.py leduc_poker --steps 40 --eta 1.0 3.0 --reach-weighted
    python scripts/tabular_mmd.py leduc_poker --steps 10 --eta 0.3 1.0 --start lm:default

Each step takes, at every information state, the magnetic mirror descent step of `algo.loss: mmd` from the
current policy: ``pi <- softmax((log pi + eta * Q) / (1 + eta * coef))`` with ``Q`` the exact action values
(`sparring.evaluation.action_values`) and the magnet coefficient annealed as in `configs/leduc_nash.yaml`
(``coef = 2 / sqrt(step)``). With `--reach-weighted` a state's step is ``eta`` times its reach over the most
reached state's, as when a learner trains on the states sampled matches reach. With `--start PLAYER` the
table starts from a player's policy (`lm:default`: the untrained model an LM run starts from, scored once)
instead of uniform. Prints the exact exploitability and the mean over states of ``max_a Q - V`` (the runs'
``deviation_gain``) at a few steps.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import pyspiel
from open_spiel.python import policy as policy_lib

from sparring.errors import SparringError
from sparring.evaluation.action_values import action_values
from sparring.evaluation.exploitability import exploitability, lm_policy


def reaches(engine: pyspiel.Game, policy: policy_lib.TabularPolicy) -> dict[str, float]:
    """Each information state's probability of being reached, every seat playing `policy`."""
    found: dict[str, float] = defaultdict(float)

    def walk(state: pyspiel.State, reach: float) -> None:
        if state.is_terminal():
            return
        if state.is_chance_node():
            for action, p in state.chance_outcomes():
                walk(state.child(action), reach * p)
            return
        found[state.information_state_string(state.current_player())] += reach
        for action, p in policy.action_probabilities(state).items():
            walk(state.child(action), reach * p)

    walk(engine.new_initial_state(), 1.0)
    return found


def starting_table(engine: pyspiel.Game, player: str | None) -> policy_lib.TabularPolicy:
    """Uniform, or `player`'s probabilities at every information state."""
    table = policy_lib.TabularPolicy(engine)
    if player is not None:
        start = lm_policy(engine.get_type().short_name, player)
        start.precompute()  # every prompt scored in batches, not one state at a time
        for state in table.states:
            row = table.policy_for_key(state.information_state_string())
            for action, p in start.action_probabilities(state).items():
                row[action] = p
    return table


def run(engine: pyspiel.Game, start: policy_lib.TabularPolicy, eta: float, steps: int, coef: float,
        reach_weighted: bool, power: float = 0.5) -> list[tuple[int, float, float]]:
    policy = start.__copy__()
    shown = []
    for step in range(1, steps + 1):
        magnet = coef * step ** -power
        values = action_values(engine, policy)
        reach = reaches(engine, policy) if reach_weighted else None
        most = max(reach.values()) if reach else 1.0
        gains = []
        for key, q in values.items():
            row = policy.policy_for_key(key)
            actions = list(q)
            probs = np.array([row[a] for a in actions])
            qs = np.array([q[a] for a in actions])
            gains.append(qs.max() - probs @ qs)
            size = eta * (reach[key] / most if reach else 1.0)
            logits = (np.log(probs) + size * qs) / (1 + size * magnet)
            new = np.exp(logits - logits.max())
            row[actions] = new / new.sum()
        if step in (1, 2, 3, 4, 5, 10, 20, 30, 40, 60, 80, steps):
            shown.append((step, exploitability(engine, policy), float(np.mean(gains))))
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game", choices=["kuhn_poker", "leduc_poker"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eta", type=float, nargs="+", default=[0.3])
    parser.add_argument("--coef", type=float, default=2.0, help="the magnet coefficient at step 1 (then * step ** -power)")
    parser.add_argument("--power", type=float, default=0.5, help="the magnet coefficient's anneal_power (0.5: / sqrt(step))")
    parser.add_argument("--reach-weighted", action="store_true")
    parser.add_argument("--start", default=None, help="a language-model player whose policy the table starts from, e.g. lm:default (default: uniform)")
    args = parser.parse_args()
    engine = pyspiel.load_game(args.game)
    try:
        start = starting_table(engine, args.start)
    except SparringError as error:
        raise SystemExit(f"tabular_mmd: {error}") from None
    if args.start:
        print(f"start: {args.start}, exploitability {exploitability(engine, start):.3f}")
    for eta in args.eta:
        shown = run(engine, start, eta, args.steps, args.coef, args.reach_weighted, args.power)
        # the exploitability is that of the policy after the step; the gain, of the policy the step started from
        print(f"eta {eta:g}: " + ", ".join(f"step {s}: {e:.3f} (gain before {g:.3f})" for s, e, g in shown))


if __name__ == "__main__":
    main()
