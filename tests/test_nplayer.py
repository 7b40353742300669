"""N seats and teams outside the games: outcomes, arena seat rotation, turn samples per seat,
N-agent baselines and MARS normalisation against hand-computed values, turn phases, and a tiny
self-play run on each new game."""

import pytest

from sparring.cli import main
from sparring.evaluation.arena import run_arena, seat_order
from sparring.evaluation.evaluate import evaluate
from sparring.evaluation.stats import outcome
from sparring.games import make_game
from sparring.players import make_player
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.advantages import RAEBaselines, TurnSample, mars_advantages, rae_advantages
from sparring.training.metrics import read_metrics
from sparring.training.phases import TurnPhases
from sparring.training.algorithms.policy_gradient import turn_samples
from sparring.training.trainer import train
from tests.test_trainer import tiny_cfg


def test_outcome_by_team():
    assert outcome([1.0, -1.0, 0.0], 0) == "win"
    assert outcome([1.0, 1.0, 0.0], 1) == "draw"
    assert outcome([1.0, 1.0, 0.0], 2) == "loss"
    # spy (seat 1) against three civilians: the civilians' team total decides
    assert outcome([0.5, -1.5, 0.5, 0.5], 0, [0, 1, 0, 0]) == "win"
    assert outcome([0.5, -1.5, 0.5, 0.5], 1, [0, 1, 0, 0]) == "loss"
    assert outcome([-0.5, 0.0, 0.5, 0.0], 0, [0, 1, 0, 0]) == "draw"
    # one team (cooperative): a score is a win, nothing a draw, a penalty a loss
    assert [outcome([s, s, s], 2, [0, 0, 0]) for s in (3.0, 0.0, -1.5)] == ["win", "draw", "loss"]


def test_seat_rotation_gives_every_player_every_seat():
    assert [seat_order(i, 2) for i in range(2)] == [[0, 1], [1, 0]]  # two players alternate as before
    counts = {}
    for i in range(12):
        for seat, player in enumerate(seat_order(i, 4)):
            counts[(player, seat)] = counts.get((player, seat), 0) + 1
    assert counts == {(p, s): 3 for p in range(4) for s in range(4)}


def test_arena_tallies_roles_dealt_per_match():
    game = make_game("spy")
    players = [make_player("random", seed=s) for s in range(4)]
    result = run_arena(game, players, 40)
    for index in range(4):
        spy, civ, every = (result.tallies[(index, k)] for k in ("spy", "civilian", None))
        assert spy.matches + civ.matches == every.matches == 40
    assert sum(result.tallies[(i, "spy")].matches for i in range(4)) == 40  # one spy per match


def test_arena_wrong_player_count_is_one_line(capsys):
    assert main(["arena", "tiny_hanabi", "random", "random", "random"]) == 2
    assert capsys.readouterr().err.strip() == "sparring: error: tiny_hanabi is played by 2 players, not 3"
    assert main(["arena", "spy", "random", "random"]) == 2
    assert "spy is played by 3 to 8 players, not 2" in capsys.readouterr().err


def _lm_turns(match, texts):
    for text in texts:
        match.submit(text, completion_ids=[1], prompt_ids=[2], logprobs=[-0.1], legal_moves=[])


def test_turn_samples_keep_one_trajectory_per_seat_when_seats_share_a_role():
    match = make_game("spy").new_match(5)
    while match.phase == "clue":
        _lm_turns(match, ["\\boxed{" + match.legal_moves()[0] + "}"])
    for seat in range(4):
        _lm_turns(match, [f"\\boxed{{player_{match.spy if seat != match.spy else (seat + 1) % 4}}}"])
    played = PlayedMatch(MatchSpec(match.game, [], 5, match.rules, {"learning_seats": [0, 1, 2, 3], "group": 0}), match)
    samples, tokens = turn_samples([played])
    civilians = [s for s in range(4) if s != match.spy]
    # the spy: 3 turns in one trajectory; each civilian: a clue trajectory (2) and a vote trajectory (1)
    assert len({s.match_id for s in samples}) == 1 + 2 * len(civilians)
    assert len(samples) == len(tokens) == 12
    votes = [s for s in samples if s.role == "civilian_vote"]  # a civilian's vote is a trajectory of its own kind
    assert len(votes) == 3 and all(v.seat_return == 1.0 for v in votes)  # every civilian named the spy
    assert {s.role for s in samples} == {"spy", "civilian", "civilian_vote"}
    only_votes, _ = turn_samples([played], keep=TurnPhases("x", 1, 0).keeps)
    assert len(only_votes) == 4  # the vote phase keeps vote turns only


def sample(match_id, role, ret, rewards, game="hanabi@3"):
    return [TurnSample(game, role, match_id, i, 5, r, ret) for i, r in enumerate(rewards)]


def test_mars_normalises_per_agent_over_n_agents():
    # three agents (roles) of one game, two matches each; turn rewards with the return on the last turn
    batch = (sample(0, "player_0", 3.0, [0.05, 3.0]) + sample(1, "player_1", 3.0, [3.0])
             + sample(2, "player_2", 3.0, [0.05, 0.05, 3.0]) + sample(3, "player_0", 1.0, [1.0])
             + sample(4, "player_1", 1.0, [0.05, 1.0]) + sample(5, "player_2", 1.0, [1.0]))
    out = {(s.match_id, s.turn_index): s.advantage for s in mars_advantages(batch)}
    # player_0: reward-to-go 3.05, 3.0 (match 0), 1.0 (match 3): mean 7.05/3, population std by hand
    g = [3.05, 3.0, 1.0]
    mean = sum(g) / 3
    std = (sum((x - mean) ** 2 for x in g) / 3) ** 0.5
    assert out[(0, 0)] == pytest.approx((3.05 - mean) / std, rel=1e-6)
    assert out[(3, 0)] == pytest.approx((1.0 - mean) / std, rel=1e-6)
    # player_2: 3.1, 3.05, 3.0, 1.0
    g = [3.1, 3.05, 3.0, 1.0]
    mean = sum(g) / 4
    std = (sum((x - mean) ** 2 for x in g) / 4) ** 0.5
    assert [out[(2, k)] for k in range(3)] == pytest.approx([(x - mean) / std for x in g[:3]], rel=1e-6)
    # each agent's advantages are centred on their own
    for role in ("player_0", "player_1", "player_2"):
        mine = [a for (m, k), a in out.items() if next(s for s in batch if s.match_id == m).role == role]
        assert sum(mine) == pytest.approx(0.0, abs=1e-9)


def test_rae_baselines_per_role_over_n_seats():
    state = RAEBaselines(decay=0.9)
    # spy game: one spy, three civilians per match; civilians share the civilian baseline in seat order
    batch = (sample(0, "spy", -2.0, [0, -2.0], game="spy") + sample(1, "civilian", 1.0, [0, 1.0], game="spy")
             + sample(2, "civilian", 0.5, [0, 0.5], game="spy") + sample(3, "civilian", 0.5, [0, 0.5], game="spy"))
    out = {s.match_id: s.advantage for s in rae_advantages(batch, state)}
    assert out == pytest.approx({0: -2.0, 1: 1.0, 2: 0.5 - 0.1, 3: 0.5 - (0.9 * 0.1 + 0.05)})
    assert state.values[("spy", "spy")] == pytest.approx(-0.2)
    assert state.values[("spy", "civilian")] == pytest.approx(0.9 * (0.9 * 0.1 + 0.05) + 0.05)


def test_turn_phases_switch_on_the_signal_and_the_step_cap():
    phases = TurnPhases("acc", high=0.6, low=0.4, min_steps=2, max_steps=4)
    phases.update({"acc": 0.9})
    assert phases.phase == "vote"  # not before min_steps
    phases.update({"acc": 0.7})
    assert phases.phase == "clue"
    for value in (0.5, 0.45, 0.41):
        phases.update({"acc": value})
    assert phases.phase == "clue"
    phases.update({})  # no signal: the cap of 4 steps ends the phase
    assert phases.phase == "vote" and phases.switches == 2


def test_evaluate_seats_a_fixed_team_and_reports_spy_metrics():
    rows = evaluate("random", ["spy", "tiny_hanabi"], opponents=["random"], matches=12, exploitability=False)
    spy_all = next(r for r in rows if r["game"] == "spy" and r["seat"] == "all")
    assert 0 <= spy_all["spy_win_rate"] <= 1 and 0 <= spy_all["civilian_accuracy"] <= 1
    assert {r["seat"] for r in rows if r["game"] == "spy"} == {0, 1, 2, 3, "spy", "civilian", "all"}
    assert {r["seat"] for r in rows if r["game"] == "tiny_hanabi"} == {0, 1, "all"}


@pytest.mark.parametrize("game", ["spy", "tiny_hanabi"])
def test_tiny_self_play_on_the_new_games(tmp_path, game):
    extra = (["curriculum.turn_phases=true", "curriculum.turn_phase_min_steps=1", "curriculum.turn_phase_max_steps=1"]
             if game == "spy" else [])
    run = train(tiny_cfg(tmp_path, f"games.names=[{game}]", "trainer.steps=2", "rollout.max_new_tokens=4", *extra))
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    roles = {"spy": ("spy", "civilian"), "tiny_hanabi": ("player_0", "player_1")}[game]
    assert all(f"mean_return/{game}/{role}" in metrics[0] for role in roles)
    if game == "spy":
        assert [m["turn_phase/clue"] for m in metrics] == [0.0, 1.0]  # max_steps 1: the phase flips every step
