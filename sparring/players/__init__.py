"""Players by name: `random`, `mcts[:SIMS]`, `minimax`, `cfr[:ITERS]`, `hanabi_rules`, `human`, `lm:MODEL`."""

from __future__ import annotations

from sparring.errors import SparringError, unknown_name_error
from sparring.players.base import Action, MovePlayer, Player

__all__ = ["Action", "MovePlayer", "Player", "PLAYER_NAMES", "make_player"]

PLAYER_NAMES = ["random", "mcts", "minimax", "cfr", "hanabi_rules", "human", "lm:default", "lm:PATH"]


def make_player(spec: str, seed: int = 0, **lm_options) -> Player:
    """A player from its command-line name. `lm_options` go to the LM player (template, ...)."""
    from sparring.players import fixed
    from sparring.players.hanabi_rules import HanabiRulesPlayer

    kind, _, arg = spec.partition(":")
    if kind == "lm" and arg:
        from sparring.players.lm import lm_player_from_spec

        return lm_player_from_spec(spec, **lm_options)
    simple = {"random": fixed.RandomPlayer, "minimax": fixed.MinimaxPlayer, "hanabi_rules": HanabiRulesPlayer}
    counted = {"mcts": (fixed.MCTSPlayer, 100), "cfr": (fixed.CFRPlayer, 1000)}
    if kind in simple and not arg:
        return simple[kind](seed=seed)
    if kind in counted:
        cls, default = counted[kind]
        if arg and not arg.isdigit():
            raise SparringError(f"player {spec!r}: the number after ':' must be a whole number")
        return cls(int(arg or default), seed=seed)
    if spec == "human":
        return fixed.HumanPlayer()
    raise unknown_name_error("player", spec, PLAYER_NAMES)
