"""A model's strategy at every information state of a small poker game, and its exact exploitability.

    .venv/bin/python scripts/strategy_table.py runs/nash_seed1/checkpoints/step_000100/average

Reads the model as the exploitability scorer does (likelihood of choosing each legal move,
renormalised, temperature 1): one line per information state, e.g. ``2pb: pass 0.05, bet 0.95``
(OpenSpiel's key: the card 0/1/2 = Jack/Queen/King, then the bets so far, p = pass, b = bet).
A strategy that is the same for every card at each betting history has not learned its cards.

``--summary`` (Leduc) prints instead each move's mean probability over the information states of a group:
the round, whether the player faces a raise, and the hand (the card in round 1; in round 2 a pair with
the public card, or a card higher or lower than it).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from sparring.evaluation.exploitability import LanguagePolicy, LikelihoodScorer, exploitability, match_at_state
from sparring.games import make_game
from sparring.games.openspiel_games import LEDUC_RANKS, LeducView
from sparring.model import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model or LoRA folder (a checkpoint's model/ or average/), or default")
    parser.add_argument("--game", default="kuhn_poker", choices=["kuhn_poker", "leduc_poker"])
    parser.add_argument("--summary", action="store_true", help="Leduc: mean move probabilities by round, raise faced and hand")
    args = parser.parse_args()
    if args.summary and args.game != "leduc_poker":
        parser.error("--summary reads Leduc's rounds and hands: add --game leduc_poker")
    model, tokenizer = load_model(args.model)
    game = make_game(args.game)
    policy = LanguagePolicy(game, LikelihoodScorer(model, tokenizer))
    policy.precompute()
    groups: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    for state in policy.information_states():
        match = match_at_state(policy.language_game, state)
        probs = {match.move_name(a): p for a, p in sorted(policy.action_probabilities(state).items())}
        if args.summary:
            groups[leduc_group(state)].append(probs)
        else:
            key = policy.state_key(state).replace("\n", " ")
            print(f"{key}: " + ", ".join(f"{move} {p:.2f}" for move, p in probs.items()))
    for (round_, faced, hand), rows in sorted(groups.items()):
        means = {move: sum(row.get(move, 0.0) for row in rows) / len(rows) for move in ("fold", "call", "raise")}
        print(f"round {round_}, {faced}, {hand} ({len(rows)} states): "
              + ", ".join(f"{move} {p:.2f}" for move, p in means.items()))
    print(f"exploitability {exploitability(game, policy):.4f}")


def leduc_group(state) -> tuple[str, str, str]:
    """(round, "faces a raise" or "no raise to face", hand) of the player to move at a Leduc state."""
    info = LeducView.info(state, state.current_player())
    round_ = info["Round"]
    bets = info[f"Round{round_}"].split()
    faced = "faces a raise" if bets and bets[-1] == "2" else "no raise to face"
    card, public = LeducView.ranks(state, state.current_player())
    if public is None:
        return round_, faced, LEDUC_RANKS[card]
    return round_, faced, "pair" if card == public else ("higher card" if card > public else "lower card")


if __name__ == "__main__":
    main()
