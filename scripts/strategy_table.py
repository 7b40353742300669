"""A model's strategy at every information state of a small poker game, and its exact exploitability.

    .venv/bin/python scripts/strategy_table.py runs/nash_seed1/checkpoints/step_000100/average

Reads the model as the exploitability scorer does (likelihood of choosing each legal move,
renormalised, temperature 1): one line per information state, e.g. ``2pb: pass 0.05, bet 0.95``
(OpenSpiel's key: the card 0/1/2 = Jack/Queen/King, then the bets so far, p = pass, b = bet).
A strategy that is the same for every card at each betting history has not learned its cards.
"""

from __future__ import annotations

import argparse

from sparring.evaluation.exploitability import LanguagePolicy, LikelihoodScorer, exploitability, match_at_state
from sparring.games import make_game
from sparring.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model or LoRA folder (a checkpoint's model/ or average/), or default")
    parser.add_argument("--game", default="kuhn_poker", choices=["kuhn_poker", "leduc_poker"])
    args = parser.parse_args()
    model, tokenizer = load_model(args.model)
    game = make_game(args.game)
    policy = LanguagePolicy(game, LikelihoodScorer(model, tokenizer))
    policy.precompute()
    for state in policy.information_states():
        match = match_at_state(policy.language_game, state)
        probs = policy.action_probabilities(state)
        key = policy.state_key(state).replace("\n", " ")
        print(f"{key}: " + ", ".join(f"{match.move_name(a)} {p:.2f}" for a, p in sorted(probs.items())))
    print(f"exploitability {exploitability(game, policy):.4f}")


if __name__ == "__main__":
    main()
