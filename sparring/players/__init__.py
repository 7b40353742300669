"""Players by name: `random`, `mcts[:SIMS]`, `minimax`, `cfr[:ITERS]`, `hanabi_rules`, `human`, `lm:MODEL`,
`api:MODEL@URL` (a served model)."""

from __future__ import annotations

from sparring.errors import SparringError, unknown_name_error
from sparring.players.base import Action, MovePlayer, Player

__all__ = ["Action", "MovePlayer", "Player", "PLAYER_NAMES", "is_model_spec", "make_player"]

PLAYER_NAMES = ["random", "mcts", "minimax", "cfr", "hanabi_rules", "human", "lm:default", "lm:PATH", "api:MODEL@URL"]


def is_model_spec(spec: str) -> bool:
    """Whether a spec names a model player (lm: in this process, api: served), which takes the LM options."""
    return spec.partition(":")[0] in ("lm", "api")


def make_player(spec: str, seed: int = 0, **lm_options) -> Player:
    """A player from its command-line name. `lm_options` go to model players (template, ...); their `api`
    entry (an ApiConfig) says how to reach a served one."""
    from sparring.players import fixed
    from sparring.players.hanabi_rules import HanabiRulesPlayer

    kind, _, arg = spec.partition(":")
    if kind == "api":
        from sparring.players.api import api_player_from_spec

        lm_options.pop("backend", None)  # a served model generates with the server's engine
        return api_player_from_spec(spec, seed=seed, **lm_options)
    if kind == "lm" and arg:
        from sparring.players.lm import lm_player_from_spec

        lm_options.pop("api", None)
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
