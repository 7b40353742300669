"""The game registry: every name `sparring games` lists, and `make_game` to build one."""

from __future__ import annotations

from functools import cache

from sparring.errors import unknown_name_error
from sparring.games.base import EVALUATION_RULES, TRAINING_RULES, LanguageGame, Match, MatchRules, Observation

__all__ = ["EVALUATION_RULES", "TRAINING_RULES", "LanguageGame", "Match", "MatchRules", "Observation",
           "first_class_games", "make_game"]


@cache
def first_class_games() -> dict[str, LanguageGame]:
    """The games with hand-written prompt formats, by name."""
    from sparring.games.openspiel_games import FIRST_CLASS_VIEWS, load_openspiel_game
    from sparring.games.task_games import TaskGame
    from sparring.games.textarena_games import TEXTARENA_GAMES

    games = {name: load_openspiel_game(name) for name in FIRST_CLASS_VIEWS}
    games.update(TEXTARENA_GAMES)
    games[TaskGame.name] = TaskGame()
    return games


def make_game(name: str, options: object = None) -> LanguageGame:
    """A game by name: a first-class game, `openspiel:NAME` for any two-player OpenSpiel game, or
    `reasoning:TASK` for a reasoning-gym task played by one seat (`sparring.games.reasoning`).
    Stateful games (task games) come fresh on each call, configured from `options`."""
    games = first_class_games()
    if name in games:
        return games[name].for_run(options)
    if name.startswith("openspiel:"):
        from sparring.games.openspiel_games import load_openspiel_game

        return load_openspiel_game(name)
    if name.startswith("reasoning:"):
        from sparring.games.reasoning import reasoning_game

        return reasoning_game(name.removeprefix("reasoning:"))
    raise unknown_name_error("game", name, list(games) + ["openspiel:NAME", "reasoning:TASK"])
