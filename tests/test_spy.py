"""Who is the spy: the rules table (every vote outcome, ties, invalid clues), zero-sum returns,
hidden words, and the per-seat scoring of votes."""

import itertools
import re

import pytest

from sparring.games import make_game
from sparring.games.base import MatchRules
from sparring.games.spy import caught, reveals, spy_metrics, vote_returns, word_pairs
from sparring.players.fixed import RandomPlayer


def profiles(seats):
    """Every vote profile: each seat names one other seat."""
    choices = [[t for t in range(seats) if t != s] for s in range(seats)]
    for targets in itertools.product(*choices):
        yield dict(enumerate(targets))


@pytest.mark.parametrize("seats", [3, 4, 5])
def test_every_vote_profile_is_zero_sum_and_ordered_by_votes(seats):
    for spy in range(seats):
        for votes in profiles(seats):
            returns = vote_returns(votes, spy, seats)
            assert sum(returns) == pytest.approx(0.0, abs=1e-12)
            received = [list(votes.values()).count(s) for s in range(seats)]
            civilians = [s for s in range(seats) if s != spy]
            mean = sum(received[s] for s in civilians) / len(civilians)
            # the spy loses exactly when it draws more votes than the average civilian
            assert (returns[spy] < 0) == (received[spy] > mean) and (returns[spy] > 0) == (received[spy] < mean)
            # among civilians, fewer votes is never worse
            for a, b in itertools.permutations(civilians, 2):
                if received[a] < received[b]:
                    assert returns[a] > returns[b]


def test_hand_computed_returns():
    # 4 seats, spy 0. Votes: 1->0, 2->0, 3->0, 0->1: spy 3 votes, civilians 1, 0, 0 (mean 1/3).
    r = vote_returns({0: 1, 1: 0, 2: 0, 3: 0}, spy=0, seats=4)
    edge = 3 - 1 / 3
    assert r == pytest.approx([-edge, edge / 3 - 0.5 * (1 - 1 / 3), edge / 3 + 0.5 / 3, edge / 3 + 0.5 / 3])
    # Everyone votes someone else and nobody picks the spy: spy 0 votes, civilians 2, 1, 1 (mean 4/3).
    r = vote_returns({0: 1, 1: 2, 2: 1, 3: 1}, spy=0, seats=4)
    assert r[0] == pytest.approx(4 / 3)


def test_caught_needs_a_strict_plurality():
    assert caught({0: 1, 1: 0, 2: 0, 3: 0}, spy=0)  # 3 votes
    assert caught({0: 1, 1: 0, 2: 0, 3: 2}, spy=0)  # 2 votes vs 1 and 1
    assert not caught({0: 1, 1: 0, 2: 0, 3: 1}, spy=0)  # 2 vs 2: a tie saves the spy
    assert not caught({0: 1, 1: 2, 2: 3, 3: 0}, spy=0)  # everyone 1 vote: a four-way tie
    assert not caught({0: 1, 1: 2, 2: 1, 3: 1}, spy=0)  # no vote on the spy


def forced_match(seed=0, seats=4):
    return make_game("spy" if seats == 4 else f"spy@{seats}").new_match(seed)


def test_clue_validity():
    match = forced_match(1)
    seat = match.current_seat()
    word = match.words[seat]
    for bad in (word, word.upper(), word + "s", "super" + word, word[:-1], "two words", "", "123"):
        assert match.parse(f"\\boxed{{{bad}}}") is None, bad
    assert match.parse("my clue is \\boxed{Blue}") == "blue"
    match.submit("\\boxed{blue}")
    assert match.parse("\\boxed{blue}") is None  # already said


def test_revealing_clue_ends_the_match_with_the_team_penalty():
    match = forced_match(2)
    match.submit("\\boxed{" + match.words[0] + "}")
    assert match.is_over()
    teams = match.teams()
    rules = match.rules
    assert match.returns() == [rules.invalid_penalty if teams[s] == teams[0] else rules.invalid_bonus for s in range(4)]
    assert match.spy_caught() is None


def test_votes_are_legal_names_of_other_players():
    match = forced_match(3)
    while match.phase == "clue":
        match.submit("\\boxed{" + match.legal_moves()[0] + "}")
    seat = match.current_seat()
    assert match.legal_moves() == [f"player_{s}" for s in range(4) if s != seat]
    assert match.parse(f"\\boxed{{player_{seat}}}") is None


def test_match_returns_and_vote_scoring():
    match = forced_match(5)
    while match.phase == "clue":
        match.submit("\\boxed{" + match.legal_moves()[0] + "}")
    spy = match.spy
    for seat in range(4):
        target = spy if seat != spy else (spy + 1) % 4
        if seat == (spy + 1) % 4:
            target = (spy + 2) % 4  # one civilian misses
        match.submit(f"\\boxed{{player_{target}}}")
    assert match.is_over() and match.spy_caught()
    assert match.returns() == vote_returns(match.votes, spy, 4)
    for seat in range(4):
        parts = match.scored_turns(seat)
        if seat == spy:
            assert len(parts) == 1 and len(parts[0][0]) == 3 and parts[0][1] == match.returns()[seat]
        else:
            (clues, clue_return), (votes, vote_return) = parts
            assert [t.extra["phase"] for t in clues] == ["clue", "clue"] and clue_return == match.returns()[seat]
            assert len(votes) == 1 and vote_return == (-1.0 if seat == (spy + 1) % 4 else 1.0)
    assert spy_metrics([match]) == {"spy_win_rate": 0.0, "civilian_accuracy": 2 / 3}
    assert match.role(spy) == "spy" and {match.role(s) for s in range(4) if s != spy} == {"civilian"}


def test_no_prompt_shows_another_word_and_random_matches_are_zero_sum():
    game = make_game("spy")
    spies = set()
    for seed in range(1500):
        match = game.new_match(seed, MatchRules(invalid_move="penalty"))
        players = [RandomPlayer(seed * 5 + s) for s in range(4)]
        while not match.is_over():
            obs = match.observe()
            other = next(w for w in set(match.words) if w != match.words[obs.seat])
            assert not re.search(rf"\b{other}\b", obs.prompt.lower())
            assert match.words[obs.seat] in obs.prompt
            match.submit(players[obs.seat].act(obs))
        assert sum(match.returns()) == pytest.approx(0.0, abs=1e-12)
        assert match.returns() == vote_returns(match.votes, match.spy, 4)
        spies.add(match.spy)
    assert spies == {0, 1, 2, 3}


def test_word_pairs_ship_with_the_package_and_never_reveal_each_other():
    pairs = word_pairs()
    assert len(pairs) >= 40
    for a, b in pairs:
        assert a != b and not reveals(a, b)


def test_seat_counts():
    assert make_game("spy@6").num_seats == 6
    with pytest.raises(Exception, match="3 to 8 players"):
        make_game("spy").with_seats(2)


def test_a_civilians_vote_learns_against_a_baseline_of_its_own():
    """Clue returns (zero-sum, from the votes) and vote returns (+1 / -1) differ in kind: two baselines."""
    from sparring.players.rollout import MatchSpec, PlayedMatch
    from sparring.training.advantages import RAEBaselines, rae_advantages
    from sparring.training.algorithms.policy_gradient import turn_samples

    match = forced_match(5)
    lm_turn = {"completion_ids": [1], "prompt_ids": [2], "logprobs": [-0.1], "legal_moves": []}
    while match.phase == "clue":
        match.submit("\\boxed{" + match.legal_moves()[0] + "}", **lm_turn)
    for seat in range(4):
        match.submit(f"\\boxed{{player_{match.spy if seat != match.spy else (seat + 1) % 4}}}", **lm_turn)
    played = PlayedMatch(MatchSpec(match.game, [], 5, match.rules, {"learning_seats": [0, 1, 2, 3], "group": 0}), match)
    baselines = RAEBaselines(decay=0.5)
    rae_advantages(turn_samples([played])[0], baselines)
    assert set(baselines.values) == {("spy", "spy"), ("spy", "civilian"), ("spy", "civilian_vote")}
    assert baselines.values[("spy", "civilian_vote")] == pytest.approx(0.875)  # three right votes: +1 each
    civilians = [match.returns()[s] for s in range(4) if s != match.spy]
    assert baselines.values[("spy", "civilian")] == pytest.approx(
        0.125 * civilians[0] + 0.25 * civilians[1] + 0.5 * civilians[2])  # the clue returns alone
