"""Exploitability of the policy a uniform magnet leaves, against the magnet coefficient.

    .venv/bin/python scripts/magnet_fixed_point.py kuhn_poker 2 1 0.5 0.3 0.2
    .venv/bin/python scripts/magnet_fixed_point.py leduc_poker 2 1 0.5

For each coefficient, the exact fixed point of sparring's loss with `algo.magnet: uniform` (every
information state's moves in proportion to exp(conditional value / coefficient), see
sparring/evaluation/magnet_equilibrium.py) and its exploitability: the level that magnet settles at. A
residual above 1e-6 means the damped iteration did not settle (small coefficients), and the row is
not a fixed point.
"""

import argparse

import pyspiel

from sparring.evaluation.magnet_equilibrium import magnet_equilibrium


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game", help="an OpenSpiel game name, e.g. kuhn_poker or leduc_poker")
    parser.add_argument("coefs", nargs="+", type=float, help="magnet coefficients (temperatures in chips)")
    parser.add_argument("--iterations", type=int, default=400)
    args = parser.parse_args()
    try:
        game = pyspiel.load_game(args.game)
    except pyspiel.SpielError as exc:
        parser.error(f"unknown OpenSpiel game {args.game!r}: {str(exc).splitlines()[0]}")
    if any(coef <= 0 for coef in args.coefs):
        parser.error(f"magnet coefficients must be positive, got {args.coefs}")
    print("coefficient | exploitability | residual")
    for coef in args.coefs:
        found = magnet_equilibrium(game, coef, args.iterations)
        print(f"{coef:g} | {found.exploitability:.4f} | {found.residual:.1e}", flush=True)


if __name__ == "__main__":
    main()
