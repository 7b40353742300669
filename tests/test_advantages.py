import dataclasses
import json

import pytest

from sparring.training.advantages import (
    ESTIMATORS,
    RAEBaselines,
    TurnSample,
    estimate_advantages,
    grpo_advantages,
    mars_advantages,
    rae_advantages,
)


def seat(match_id, role, ret, n_turns=1, game="tic_tac_toe", rewards=None, group=None):
    rewards = rewards if rewards is not None else [0.0] * n_turns
    return [
        TurnSample(game, role, match_id, i, 10, r, ret, group=group)
        for i, r in enumerate(rewards)
    ]


# --- RAE -------------------------------------------------------------------


def test_rae_pre_baseline_over_two_matches():
    state = RAEBaselines()
    first = rae_advantages(seat(0, "player_0", 1.0, n_turns=3), state)
    assert [s.advantage for s in first] == [1.0, 1.0, 1.0]
    assert state.values[("tic_tac_toe", "player_0")] == pytest.approx(0.05)
    second = rae_advantages(seat(1, "player_0", -1.0), state)
    assert second[0].advantage == pytest.approx(-1.05)
    assert state.values[("tic_tac_toe", "player_0")] == pytest.approx(0.95 * 0.05 - 0.05)


def test_rae_post_baseline_over_two_matches():
    state = RAEBaselines()
    samples = seat(0, "player_0", 1.0) + seat(1, "player_0", -1.0)
    out = rae_advantages(samples, state, baseline="post")
    # b: 0 -> 0.05 -> -0.0025
    assert [s.advantage for s in out] == pytest.approx([0.95, -0.9975])


def test_rae_baselines_are_per_game_and_role():
    state = RAEBaselines()
    samples = (
        seat(0, "player_0", 1.0)
        + seat(0, "player_1", -1.0)
        + seat(1, "player_0", 1.0, game="kuhn_poker")
    )
    out = rae_advantages(samples, state)
    # a shared baseline would give -1.05 to player_1 and 0.95 to kuhn player_0
    assert [s.advantage for s in out] == pytest.approx([1.0, -1.0, 1.0])
    assert state.values == pytest.approx(
        {
            ("tic_tac_toe", "player_0"): 0.05,
            ("tic_tac_toe", "player_1"): -0.05,
            ("kuhn_poker", "player_0"): 0.05,
        }
    )


def test_rae_keeps_zero_advantage_seats():
    samples = seat(0, "player_0", 0.0, n_turns=2) + seat(0, "player_1", 1.0, n_turns=2)
    out = rae_advantages(samples, RAEBaselines())
    assert [(s.role, s.advantage) for s in out] == [("player_0", 0.0), ("player_0", 0.0),
                                                    ("player_1", 1.0), ("player_1", 1.0)]


def test_rae_does_not_mutate_input_and_checks_arguments():
    samples = seat(0, "player_0", 1.0)
    rae_advantages(samples, RAEBaselines())
    assert samples[0].advantage == 0.0
    with pytest.raises(ValueError):
        rae_advantages(samples, None)
    with pytest.raises(ValueError):
        rae_advantages(samples, RAEBaselines(), baseline="mid")


def test_rae_rejects_seat_with_inconsistent_return():
    samples = seat(0, "player_0", 1.0, n_turns=2)
    samples[1].seat_return = -1.0
    with pytest.raises(ValueError):
        rae_advantages(samples, RAEBaselines())


def test_rae_baselines_round_trip_through_json():
    state = RAEBaselines(decay=0.9)
    state.update("textarena/TicTacToe-v0", "player_0", 1.0)
    state.update("kuhn_poker", "player_1", -1.0)
    data = json.loads(json.dumps(state.to_dict()))
    assert data["values"]["kuhn_poker/player_1"] == pytest.approx(-0.1)
    restored = RAEBaselines.from_dict(data)
    assert restored == state
    assert restored.values[("textarena/TicTacToe-v0", "player_0")] == pytest.approx(0.1)


# --- MARS ------------------------------------------------------------------


def test_mars_reward_to_go_then_per_agent_normalisation():
    win = seat(0, "player_0", 1.0, rewards=[0.0, 1.0])
    loss = seat(1, "player_0", -1.0, rewards=[0.0, -1.0])
    other = seat(0, "player_1", -1.0, rewards=[0.05, -0.95])
    out = mars_advantages(list(reversed(win)) + loss + other)
    got = {(s.match_id, s.role, s.turn_index): s.advantage for s in out}
    # player_0 reward-to-go: [1, 1] and [-1, -1]; mean 0, std 1
    assert got[(0, "player_0", 0)] == pytest.approx(1.0)
    assert got[(0, "player_0", 1)] == pytest.approx(1.0)
    assert got[(1, "player_0", 0)] == pytest.approx(-1.0)
    assert got[(1, "player_0", 1)] == pytest.approx(-1.0)
    # player_1 reward-to-go: [-0.9, -0.95]; mean -0.925, std 0.025
    assert got[(0, "player_1", 0)] == pytest.approx(1.0)
    assert got[(0, "player_1", 1)] == pytest.approx(-1.0)
    assert [s.turn_index for s in out[:2]] == [0, 1]


def test_mars_only_centres_when_std_is_zero():
    out = mars_advantages(seat(0, "player_0", 1.0, rewards=[0.7]))
    assert out[0].advantage == 0.0
    same = seat(0, "player_0", 1.0, rewards=[0.5]) + seat(1, "player_0", 1.0, rewards=[0.5])
    assert [s.advantage for s in mars_advantages(same)] == [0.0, 0.0]


# --- GRPO ------------------------------------------------------------------


def test_grpo_uses_one_return_per_seat_not_per_turn():
    samples = (
        seat(0, "player_0", 1.0, n_turns=3, group="g1")
        + seat(1, "player_0", -1.0, n_turns=1, group="g1")
        + seat(2, "player_0", 2.0, group="g2")
        + seat(3, "player_0", 4.0, group="g2")
    )
    out = grpo_advantages(samples, scale=False)
    # a per-turn mean in g1 would be 0.5 and give 0.5 / -1.5
    assert [s.advantage for s in out] == pytest.approx([1.0, 1.0, 1.0, -1.0, -1.0, 1.0])


def test_grpo_scaled_divides_by_group_std():
    samples = [
        s
        for m, r in enumerate([1.0, 0.0, -1.0])
        for s in seat(m, "player_0", r, n_turns=2, group="g")
    ]
    out = grpo_advantages(samples)
    a = (2 / 3) ** -0.5  # 1 / population std of (1, 0, -1)
    assert [s.advantage for s in out] == pytest.approx([a, a, 0, 0, -a, -a], rel=1e-5)


def test_grpo_compares_seats_of_one_role_only_in_zero_sum_self_play():
    # Four self-play matches of one group: player_0 returns [1, 2, 2, 2], player_1 the negatives.
    # Pooled over both roles the mean is 0 and player_0's return of 1 would get +0.55.
    returns = [1.0, 2.0, 2.0, 2.0]
    samples = [s for m, r in enumerate(returns)
               for s in seat(m, "player_0", r, group="g") + seat(m, "player_1", -r, group="g")]
    out = {(s.match_id, s.role): s.advantage for s in grpo_advantages(samples, scale=False)}
    assert out[(0, "player_0")] == pytest.approx(-0.75)  # the worst player_0 of its group
    assert out[(1, "player_0")] == pytest.approx(0.25)
    assert out[(0, "player_1")] == pytest.approx(0.75)  # the best player_1 of its group
    assert out[(1, "player_1")] == pytest.approx(-0.25)
    for role in ("player_0", "player_1"):  # each role's group is centred on its own mean
        assert sum(a for (_, r), a in out.items() if r == role) == pytest.approx(0.0)


def test_grpo_never_mixes_games_with_the_same_group_key():
    samples = seat(0, "player_0", 1.0, game="kuhn_poker", group="0") + seat(1, "player_0", 3.0, game="tic_tac_toe", group="0")
    assert [s.advantage for s in grpo_advantages(samples, scale=False)] == [0.0, 0.0]


def test_grpo_requires_group():
    with pytest.raises(ValueError):
        grpo_advantages(seat(0, "player_0", 1.0))


# --- registry --------------------------------------------------------------


def test_estimate_advantages_dispatches_by_name():
    assert set(ESTIMATORS) == {"rae", "mars", "grpo", "trr", "exact", "sampled"}
    state = RAEBaselines()
    out = estimate_advantages("rae", seat(0, "player_0", 1.0) + seat(1, "player_0", 1.0), state)
    assert [s.advantage for s in out] == pytest.approx([1.0, 0.95])
    out = estimate_advantages(
        "grpo", seat(0, "a", 3.0, group="g") + seat(1, "a", 1.0, group="g"), scale=False
    )
    assert [s.advantage for s in out] == [1.0, -1.0]
    with pytest.raises(ValueError):
        estimate_advantages("a2c", [], None)


# --- TRR++ -------------------------------------------------------------------


def task_seat(match_id, role, ret, task, n_turns=1):
    return [TurnSample("propose_solve", role, match_id, i, 10, 0.0, ret, task=task) for i in range(n_turns)]


def test_trr_normalises_each_game_task_role_batch_on_its_own():
    samples = (task_seat(0, "solver", 1.0, "deduction") + task_seat(1, "solver", 0.0, "deduction")
               + task_seat(2, "solver", 1.0, "induction") + task_seat(3, "solver", 1.0, "induction")
               + task_seat(4, "solver", 0.0, "induction") + task_seat(5, "solver", 0.0, "induction")
               + task_seat(6, "proposer", 0.5, "deduction", n_turns=2) + task_seat(7, "proposer", -0.5, "deduction"))
    out = {(s.match_id, s.turn_index): s.advantage for s in estimate_advantages("trr", samples)}
    # deduction solvers: mean 0.5, std 0.5; induction solvers: mean 0.5, std 0.5 (four seats)
    assert out[(0, 0)] == pytest.approx(1.0, abs=1e-5) and out[(1, 0)] == pytest.approx(-1.0, abs=1e-5)
    assert [out[(k, 0)] for k in (2, 3, 4, 5)] == pytest.approx([1, 1, -1, -1], abs=1e-5)
    # proposers of deduction tasks: one R per seat (0.5 and -0.5), both turns of seat 6 get its A
    assert out[(6, 0)] == out[(6, 1)] == pytest.approx(1.0, abs=1e-5) and out[(7, 0)] == pytest.approx(-1.0, abs=1e-5)


def test_trr_centres_a_batch_without_spread_and_groups_taskless_samples_by_role():
    same = task_seat(0, "solver", 1.0, "abduction") + task_seat(1, "solver", 1.0, "abduction")
    assert [s.advantage for s in estimate_advantages("trr", same)] == [0.0, 0.0]
    plain = seat(0, "player_0", 1.0) + seat(1, "player_0", -1.0) + seat(2, "player_1", 3.0)
    out = [s.advantage for s in estimate_advantages("trr", plain)]
    assert out[:2] == pytest.approx([1.0, -1.0], abs=1e-5) and out[2] == 0.0


def test_exact_keeps_the_advantages_the_samples_carry_in_seat_order():
    samples = [dataclasses.replace(s, advantage=a) for s, a in zip(seat(1, "player_1", -1.0, 2) + seat(0, "player_0", 1.0, 2),
                                                                  (0.25, -0.5, 2.0, 0.0))]
    out = estimate_advantages("exact", samples)
    assert [(s.match_id, s.advantage) for s in out] == [(1, 0.25), (1, -0.5), (0, 2.0), (0, 0.0)]
    assert out[0] is not samples[0]
