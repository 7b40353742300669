"""Who sits where in one step's matches (`SelfPlay`) and the run settings every player in them shares.

The trainer builds a `SelfPlay` each step and a runner plays it: in this process, or on a Ray
worker that rebuilds it from copies of the curriculum and pool (`sparring.distributed`). Both need
this module, so it sits below them.
"""

from __future__ import annotations

import torch

from sparring.config import Config
from sparring.games import LanguageGame, MatchRules
from sparring.games.base import Turn
from sparring.players import Player, make_player
from sparring.players.rollout import MatchSpec, PlayedMatch, is_learner_turn
from sparring.seeding import stream_rng, stream_seed
from sparring.training.curriculum import Curriculum, phase_arms, split_arm
from sparring.training.pool import Opponent, OpponentPool, seating


def lm_options(cfg: Config) -> dict:
    """The run's prompt template and sampling settings, for every model that plays in it."""
    r = cfg.rollout
    return {"template": cfg.games.template, "max_new_tokens": r.max_new_tokens, "temperature": r.temperature,
            "top_p": r.top_p, "backend": r.backend, "moves": r.moves}


def player_options(cfg: Config) -> dict:
    """What `make_player` takes for an opponent: `lm_options`, and how served players (api:MODEL@URL) are reached."""
    return {**lm_options(cfg), "api": cfg.api}


def fixed_opponent(cfg: Config) -> Opponent | None:
    """The configured fixed opponent, built once per run (None under "self": the pool decides)."""
    name = cfg.rollout.opponent
    return None if name == "self" else Opponent(name, make_player(name, **player_options(cfg)))


def match_rules(cfg: Config) -> MatchRules:
    g = cfg.games
    return MatchRules(answer_format=g.answer_format, invalid_move=g.invalid_move, invalid_penalty=g.invalid_penalty,
                      invalid_bonus=g.invalid_bonus, retries=g.retries, max_turns=g.max_turns)


class SelfPlay:
    """Who sits where in the matches of one step, and which seats learn.

    Each group of matches draws its (game, role) arm from the curriculum and its opponent from
    the pool (or the configured fixed opponent); the policy takes the arm's seat. Against `self`
    the policy takes every seat and every seat learns. `spec(i)` depends only on the step, `i` and
    the curriculum's and pool's state, so a Ray worker holding copies of them seats the same matches.
    """

    def __init__(self, cfg: Config, policy: Player, pool: OpponentPool, curriculum: Curriculum,
                 games: dict[str, LanguageGame], step: int, fixed: Opponent | None = None):
        self.cfg = cfg
        self.policy = policy
        self.pool = pool
        self.curriculum = curriculum
        self.games = games
        self.rules = match_rules(cfg)
        self.step = step
        self.fixed = fixed
        self.arms = phase_arms(cfg.curriculum.phases, cfg.curriculum.phase_steps, games.values(), step)

    def start_shard(self, shard: int) -> None:
        """Re-seed the fixed players and torch's sampling RNG for one shard of this step (`training.shards`)."""
        seed = self.cfg.trainer.seed
        if self.fixed is not None:
            self.fixed.player.reseed(stream_seed(seed, "shard_players", self.step, shard, 0))
        self.pool.reseed(stream_seed(seed, "shard_players", self.step, shard, 1))
        torch.manual_seed(stream_seed(seed, "sampling", self.step, shard))

    def spec(self, i: int) -> MatchSpec:
        group = i // self.cfg.rollout.group_size  # matches of a group share arm, opponent and deal
        seed = self.cfg.trainer.seed
        arm = self.curriculum.sample(stream_rng(seed, "arm", self.step, group), self.arms)
        game_name, role = split_arm(arm)
        game = self.games[game_name]
        opponent = self.fixed or self.pool.sample(stream_rng(seed, "opponent", self.step, group))
        players, learning = seating(opponent, self.policy, game.num_seats, game.roles.index(role))
        return MatchSpec(game, players, stream_seed(seed, "match", self.step, group), self.rules,
                         {"learning_seats": learning, "group": group, "opponent": opponent.id, "arm": arm})

    @staticmethod
    def counts(played: PlayedMatch, turn: Turn) -> bool:
        """A turn that becomes a turn sample: a learning seat's LM turn (a fixed LM opponent's turns do not count)."""
        return turn.seat in played.spec.meta["learning_seats"] and is_learner_turn(turn)
