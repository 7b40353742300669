"""The game registry: every name `sparring games` lists, `make_game` to build one, and
`register_game` for a game written outside the package (docs/adding_a_game.md)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from sparring.errors import SparringError, unknown_name_error
from sparring.games.base import EVALUATION_RULES, TRAINING_RULES, LanguageGame, Match, MatchRules, Observation

__all__ = ["EVALUATION_RULES", "TRAINING_RULES", "LanguageGame", "Match", "MatchRules", "Observation",
           "first_class_games", "import_game_modules", "make_game", "register_game", "registered_games"]

_REGISTERED: dict[str, Callable[[], LanguageGame]] = {}


def register_game(name: str, factory: Callable[[], LanguageGame]) -> None:
    """Make a game written outside the package playable by `name` wherever a game name goes
    (`games.names`, evaluation, leagues). `factory()` returns a fresh `LanguageGame` whose `name`
    is `name`; registering a name again replaces it, a built-in name is refused. A config loads the
    module that calls this through `games.modules`."""
    if name in first_class_games() or name.partition(":")[0] in ("openspiel", "reasoning"):
        raise SparringError(f"register_game: {name!r} is a built-in game name; choose another")
    _REGISTERED[name] = factory


def registered_games() -> dict[str, Callable[[], LanguageGame]]:
    """The games registered with `register_game`, by name."""
    return dict(_REGISTERED)


def import_game_modules(modules: list[str]) -> None:
    """Import the modules that register games: dotted names (`examples.custom_game`, found on
    sys.path or from the working directory) or paths to .py files."""
    for spec in modules:
        try:
            if spec.endswith(".py"):
                _import_file(Path(spec))
            else:
                if "" not in sys.path and str(Path.cwd()) not in sys.path:
                    sys.path.append(str(Path.cwd()))  # the `sparring` script does not put it there
                importlib.import_module(spec)
        except Exception as exc:  # noqa: BLE001 - the user's module: whatever it raises becomes one line
            raise SparringError(f"games.modules: cannot import {spec} ({type(exc).__name__}: {exc})") from None


def _import_file(path: Path) -> None:
    name = f"sparring_user_games.{path.stem}"
    if name in sys.modules:
        return
    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    spec = importlib.util.spec_from_file_location(name, path.resolve())
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


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
    games[AskAnswerVerifyGame.name] = AskAnswerVerifyGame(game_rules=rules_texts)
    return games


def rules_texts() -> tuple[str, ...]:
    """``NAME: RULES`` for every first-class game: what ask_answer_verify's built-in corpus starts with."""
    return tuple(f"{name}: {game.rules_text}" for name, game in first_class_games().items())


def make_game(name: str, options: object = None) -> LanguageGame:
    """A game by name: a first-class game (`NAME@N` for N players, e.g. `hanabi@3`), `openspiel:NAME` for any two-player OpenSpiel game, or
    `reasoning:TASK` for a reasoning-gym task played by one seat (`sparring.games.reasoning`).
    Stateful games (task games) come fresh on each call, configured from `options`."""
    import_game_modules(getattr(getattr(options, "games", None), "modules", []))
    if name in _REGISTERED:
        game = _REGISTERED[name]()
        if not isinstance(game, LanguageGame) or game.name != name:
            raise SparringError(f"the factory registered as {name!r} must return a LanguageGame named {name!r}")
        return game.for_run(options)
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
    raise unknown_name_error("game", name, list(games) + list(_REGISTERED) + ["openspiel:NAME", "reasoning:TASK"])
