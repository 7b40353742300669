"""The rollout engine: exact match counts, batching across matches, invalid moves recorded."""

from sparring.games import TRAINING_RULES, make_game
from sparring.players import make_player
from sparring.players.lm import LMPlayer
from sparring.players.rollout import MatchSpec, Rollout


class CountingLM(LMPlayer):
    """The real LM player, counting the size of every batch it is sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sizes = []

    def act_batch(self, observations):
        self.batch_sizes.append(len(observations))
        return super().act_batch(observations)


def test_exactly_the_requested_matches_all_finished_with_invalid_moves_recorded(tiny):
    model, tokenizer = tiny
    lm = CountingLM(model, tokenizer, max_new_tokens=4)
    rnd = make_player("random", seed=1)
    games = [make_game("kuhn_poker"), make_game("tic_tac_toe")]

    def spec(i):  # mixed games and seat assignments in one rollout
        players = [lm, rnd] if i % 2 == 0 else [rnd, lm]
        return MatchSpec(games[i % 3 % 2], players, seed=i, rules=TRAINING_RULES, meta={"i": i})

    played = list(Rollout(concurrency=4).play(spec, num_matches=10))
    assert sorted(p.spec.meta["i"] for p in played) == list(range(10))
    assert all(p.match.is_over() for p in played)
    assert {p.spec.game.name for p in played} == {"kuhn_poker", "tic_tac_toe"}
    lm_turns = [t for p in played for t in p.match.turns if p.spec.players[t.seat] is lm]
    invalid = [t for t in lm_turns if not t.valid]
    assert invalid, "a random-weight model should make invalid moves"
    assert all(t.text.startswith("\\boxed{") and "completion_ids" in t.extra for t in invalid)
    for p in played:  # an invalid move ends the match with the training penalty
        if p.match.invalid_seats():
            (bad,) = p.match.invalid_seats()
            assert p.match.returns()[bad] == TRAINING_RULES.invalid_penalty
    assert max(lm.batch_sizes) > 1  # turns of different matches shared one generate call
    assert sum(lm.batch_sizes) == len(lm_turns)


def test_turn_budget_stops_new_matches_but_finishes_started_ones(tiny):
    model, tokenizer = tiny
    lm = LMPlayer(model, tokenizer, max_new_tokens=4)
    game = make_game("tic_tac_toe")
    started = []

    def spec(i):
        started.append(i)
        return MatchSpec(game, [lm, lm], seed=i, rules=TRAINING_RULES)

    played = list(Rollout(concurrency=3).play(spec, num_turns=1))
    # The first fill starts 3 matches; after one round the budget is met, so none more start,
    # and the three started ones are played to the end.
    assert started == [0, 1, 2]
    assert len(played) == 3 and all(p.match.is_over() for p in played)
