"""Fixed players: random, MCTS, exact minimax, CFR (Nash approximation) and a person."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pyspiel
from open_spiel.python.algorithms import mcts

from sparring.errors import SparringError
from sparring.games.answer import format_answer
from sparring.games.base import LanguageGame, Observation
from sparring.model import cache_root
from sparring.players.base import MovePlayer


def cache_dir(kind: str) -> Path:
    """Where sparring keeps computed artefacts of one kind (CFR policies...), under the model cache root."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def engine_state(observation: Observation, player: str) -> pyspiel.State:
    state = observation.match.engine_state
    if state is None:
        raise SparringError(f"player {player!r} needs an OpenSpiel game; {observation.match.game.name!r} is not one")
    return state


def perfect_information(game: LanguageGame) -> bool:
    """Whether the game is an OpenSpiel game whose whole state every seat sees."""
    engine = getattr(game, "engine", None)
    return (isinstance(engine, pyspiel.Game)
            and engine.get_type().information == pyspiel.GameType.Information.PERFECT_INFORMATION)


def check_fair(spec: str, game: LanguageGame) -> None:
    """Refuse a fixed player (by name) on a game it would play seeing more than its seat may: mcts searches the
    engine's whole state, hidden cards included, so it plays only OpenSpiel games of perfect information."""
    if spec.partition(":")[0] == "mcts" and not perfect_information(game):
        raise SparringError(f"mcts searches the whole game state, so on {game.name} it would see what its seat may "
                            "not (the other hands): it plays OpenSpiel games of perfect information only")


class RandomPlayer(MovePlayer):
    """Picks a legal move uniformly at random from its own seeded generator."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, observation: Observation) -> str:
        if not observation.legal_moves:
            raise SparringError(f"random cannot play {observation.match.game.name}: it lists no legal moves "
                                "(its answers are free text, judged)")
        return observation.legal_moves[self.rng.integers(len(observation.legal_moves))]


class MCTSPlayer(MovePlayer):
    """OpenSpiel's MCTS bot with random-rollout evaluation."""

    def __init__(self, simulations: int = 100, seed: int = 0):
        self.name = f"mcts:{simulations}"
        self.simulations = simulations
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.random_state = np.random.RandomState(seed)
        self._bots: dict[str, mcts.MCTSBot] = {}  # each bot holds the random state it was built with

    def check_game(self, game: LanguageGame) -> None:
        check_fair("mcts", game)

    def choose(self, observation: Observation) -> str:
        state = engine_state(observation, "mcts")
        game = state.get_game()
        key = str(game)
        if key not in self._bots:
            evaluator = mcts.RandomRolloutEvaluator(n_rollouts=1, random_state=self.random_state)
            self._bots[key] = mcts.MCTSBot(game, uct_c=2.0, max_simulations=self.simulations,
                                           evaluator=evaluator, random_state=self.random_state)
        return observation.match.move_name(self._bots[key].step(state))


_MINIMAX_TABLES: dict[str, dict[str, float]] = {}  # game -> position -> value, shared by all minimax players


def minimax_value(state: pyspiel.State, table: dict[str, float]) -> float:
    """The exact value of `state` for the player to move (negamax, memoised by position)."""
    if state.is_terminal():
        raise ValueError("minimax_value of a terminal state")
    key = f"{state}|{state.current_player()}"  # positions, not move orders: transpositions share a value
    if key not in table:
        player = state.current_player()
        table[key] = max(_child_value(state, a, player, table) for a in state.legal_actions())
    return table[key]


def _child_value(state: pyspiel.State, action: int, player: int, table: dict[str, float]) -> float:
    child = state.child(action)
    if child.is_terminal():
        return child.returns()[player]
    value = minimax_value(child, table)
    return value if child.current_player() == player else -value


class MinimaxPlayer(MovePlayer):
    """Exact play for small deterministic two-player zero-sum games (tic-tac-toe): never loses."""

    name = "minimax"

    def __init__(self, seed: int = 0):
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, observation: Observation) -> str:
        state = engine_state(observation, "minimax")
        game_type = state.get_game().get_type()
        if (game_type.chance_mode != pyspiel.GameType.ChanceMode.DETERMINISTIC
                or game_type.information != pyspiel.GameType.Information.PERFECT_INFORMATION
                or game_type.utility != pyspiel.GameType.Utility.ZERO_SUM):
            raise SparringError(f"minimax needs a deterministic perfect-information zero-sum game, not {observation.match.game.name!r}")
        table = _MINIMAX_TABLES.setdefault(game_type.short_name, {})
        player = state.current_player()
        values = {a: _child_value(state, a, player, table) for a in state.legal_actions()}
        best = max(values.values())
        choices = [a for a, v in values.items() if v == best]
        return observation.match.move_name(int(self.rng.choice(choices)))


@cache
def cfr_policy(game_name: str, iterations: int) -> dict[str, dict[int, float]]:
    """CFR's average policy for a game, computed once with OpenSpiel and cached on disk as JSON."""
    path = cache_dir("cfr") / f"{game_name}_{iterations}.json"
    if path.exists():
        table = json.loads(path.read_text())
    else:
        solver = pyspiel.CFRSolver(pyspiel.load_game(game_name))
        for _ in range(iterations):
            solver.evaluate_and_update_policy()
        table = {info: {str(a): p for a, p in pairs} for info, pairs in solver.tabular_average_policy().policy_table().items()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(table))
        tmp.replace(path)
    return {info: {int(a): p for a, p in probs.items()} for info, probs in table.items()}


CFR_GAMES = ("kuhn_poker", "leduc_poker")


class CFRPlayer(MovePlayer):
    """Samples from OpenSpiel CFR's average policy (an approximate Nash equilibrium)."""

    def __init__(self, iterations: int = 1000, seed: int = 0):
        self.name = f"cfr:{iterations}"
        self.iterations = iterations
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choose(self, observation: Observation) -> str:
        state = engine_state(observation, "cfr")
        game_name = state.get_game().get_type().short_name
        if game_name not in CFR_GAMES:
            raise SparringError(f"cfr plays {', '.join(CFR_GAMES)}, not {observation.match.game.name!r}")
        probs = cfr_policy(game_name, self.iterations)[state.information_state_string()]
        actions = list(probs)
        weights = np.array([probs[a] for a in actions])
        return observation.match.move_name(actions[self.rng.choice(len(actions), p=weights / weights.sum())])


class HumanPlayer(MovePlayer):
    """A person at the terminal: sees the model's prompt, types a move, is asked again if illegal."""

    name = "human"

    def __init__(self, read=input, write=print):
        self.read = read
        self.write = write

    def choose(self, observation: Observation) -> str:
        self.write("\n" + observation.prompt)
        while True:
            text = self.read("your move> ").strip()
            move = observation.match.parse(text) or observation.match.parse(format_answer(text, observation.answer_format))
            if move is not None:
                return move
            self.write(f"{text!r} is not a legal move. Legal moves: {', '.join(observation.legal_moves)}")
