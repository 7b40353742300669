"""The duality gap of models in the preference game, on a run config's held-out prompts.

    python scripts/preference_gap.py configs/sppo.yaml lm:default lm:runs/sppo/checkpoints/step_000020/model

Prints, per model, `preference_gap/mean` and `preference_gap/reference_mass` over `preference.gap_items`
held-out prompts (`sparring.evaluation.preference_gap`), at the config's template, answer format and
temperature: the step-0 point of a training run's gap curve.
"""

from __future__ import annotations

import argparse

from sparring.config import load_config
from sparring.evaluation.preference_gap import preference_gap
from sparring.games import make_game
from sparring.players.lm import lm_player_from_spec
from sparring.training.selfplay import match_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("models", nargs="+", help="lm:default, lm:tiny or lm:PATH")
    args = parser.parse_args()
    cfg = load_config(args.config)
    game = make_game("preference", cfg)
    for spec in args.models:
        player = lm_player_from_spec(spec, template=cfg.games.template, temperature=cfg.rollout.temperature)
        gap = preference_gap(player, game, cfg.preference.gap_items, match_rules(cfg))
        print(f"{spec}: gap {gap['preference_gap/mean']:.3f}, mass on the reference {gap['preference_gap/reference_mass']:.3f}")


if __name__ == "__main__":
    main()
