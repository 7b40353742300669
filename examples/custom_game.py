"""A game of your own in 30 lines: guess the number from a hint; a rule judge gives the reward.

Train on it: sparring train configs/tiny_test.yaml --set games.modules=[examples/custom_game.py] --set games.names=[guess_number]
"""

from sparring.games import TRAINING_RULES, LanguageGame, Match, register_game


def judge(match: "GuessMatch") -> list[float]:
    """The reward: +1 for the number, -1 for any other guess."""
    return [1.0 if match.guess == match.secret else -1.0]


class GuessMatch(Match):
    def __init__(self, game, seed, rules):
        super().__init__(game, seed, rules)
        self.secret, self.guess = int(self.rng.integers(1, 5)), None  # draw chance from self.rng: replays from the seed

    def _engine_seat(self):
        return 0 if self.guess is None else None  # seat 0 moves once, then the match is over

    def legal_moves(self):
        return ["1", "2", "3", "4"]

    def _engine_apply(self, move):
        self.guess = int(move)

    def _engine_returns(self):
        return judge(self)

    def observation_text(self, seat):
        return f"The number is {'even' if self.secret % 2 == 0 else 'odd'} and {'above' if self.secret > 2 else 'at most'} 2."


class GuessNumber(LanguageGame):
    name, roles = "guess_number", ("guesser",)
    description, rules_text = "name the number from 1 to 4 that a hint describes", "Guess the number from 1 to 4."

    def new_match(self, seed, rules=TRAINING_RULES):
        return GuessMatch(self, seed, rules)


register_game("guess_number", GuessNumber)
