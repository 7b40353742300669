"""The game registry: every name `sparring games` lists, and `make_game` to build one."""

from __future__ import annotations

from functools import cache

from sparring.errors import SparringError, unknown_name_error
from sparring.games.base import EVALUATION_RULES, TRAINING_RULES, LanguageGame, Match, MatchRules, Observation

__all__ = ["EVALUATION_RULES", "TRAINING_RULES", "LanguageGame", "Match", "MatchRules", "Observation",
           "first_class_games", "make_game"]


@cache
def first_class_games() -> dict[str, LanguageGame]:
    """The games with hand-written prompt formats, by name."""
    from sparring.games.openspiel_games import FIRST_CLASS_VIEWS, load_openspiel_game
    from sparring.games.task_games import TaskGame
    from sparring.games.textarena_games import TEXTARENA_GAMES

    from sparring.games.hanabi import load_hanabi
    from sparring.games.ask_answer_verify import AskAnswerVerifyGame
    from sparring.games.challenger_solver import ChallengerSolverGame
    from sparring.games.creator_solver import CreatorSolverGame
    from sparring.games.preference import PreferenceGame
    from sparring.games.red_team import RedTeamGame
    from sparring.games.sneaky_critic import SneakyCriticGame
    from sparring.games.spy import SpyGame
    from sparring.games.textarena_liars_dice import LiarsDice
    from sparring.games.textarena_mafia import SecretMafia

    games = {name: load_openspiel_game(name) for name in FIRST_CLASS_VIEWS}
    games.update({name: load_hanabi(name) for name in ("tiny_hanabi", "hanabi")})
    games[SpyGame.name] = SpyGame()
    games.update(TEXTARENA_GAMES)
    games.update({game.name: game for game in (LiarsDice(), SecretMafia())})
    games[TaskGame.name] = TaskGame()
    games[SneakyCriticGame.name] = SneakyCriticGame()
    games[RedTeamGame.name] = RedTeamGame()
    games[CreatorSolverGame.name] = CreatorSolverGame()
    games[PreferenceGame.name] = PreferenceGame()
    games[ChallengerSolverGame.name] = ChallengerSolverGame()
    games[AskAnswerVerifyGame.name] = AskAnswerVerifyGame()
    return games


def make_game(name: str, options: object = None) -> LanguageGame:
    """A game by name: a first-class game (`NAME@N` for N players, e.g. `hanabi@3`), `openspiel:NAME` for any two-player OpenSpiel game, or
    `reasoning:TASK` for a reasoning-gym task played by one seat (`sparring.games.reasoning`).
    Stateful games (task games) come fresh on each call, configured from `options`."""
    games = first_class_games()
    base, at, seats = name.partition("@")
    if at and base in games:
        if not seats.isdigit():
            raise SparringError(f"game {name!r}: the number after '@' is the number of players")
        return games[base].with_seats(int(seats)).for_run(options)
    if name in games:
        return games[name].for_run(options)
    if name.startswith("openspiel:"):
        from sparring.games.openspiel_games import load_openspiel_game

        return load_openspiel_game(name)
    if name.startswith("reasoning:"):
        from sparring.games.reasoning import reasoning_game

        return reasoning_game(name.removeprefix("reasoning:"))
    raise unknown_name_error("game", name, list(games) + ["openspiel:NAME", "reasoning:TASK"])
