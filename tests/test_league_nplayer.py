"""Leagues on games of more than two seats: rotating groups, OpenSkill over teams, the CLI and replay."""

import json

import numpy as np
import pytest

from sparring.cli import main as run_command
from sparring.evaluation.league import LeagueEntry, run_league
from sparring.evaluation.ratings import openskill_team_ratings
from sparring.evaluation.league_nplayer import deal_groups, pair_records
from sparring.players.base import Action, Player


class AlwaysInvalid(Player):
    """Answers every turn with text that names no move."""

    def act_batch(self, observations):
        return [Action("I would rather not say.") for _ in observations]


def mu(result):
    return {name: m for name, (m, _) in zip(result.names, result.openskill())}


@pytest.mark.parametrize("players, seats", [(3, 3), (5, 3), (2, 4), (7, 6)])
def test_every_player_plays_every_round(players, seats):
    rounds = 6
    groups = deal_groups(players, seats, rounds, seed=1)
    per_round = -(-players // seats)
    assert len(groups) == rounds * per_round and all(len(g) == seats for g in groups)
    for r in range(rounds):
        dealt = [k for g in groups[r * per_round:(r + 1) * per_round] for k in g]
        assert set(dealt) == set(range(players))
    if players >= seats:
        assert all(len(set(g)) == seats for g in groups)  # nobody sits twice in one match


def test_team_ratings_rank_by_result_and_move_team_members_together():
    events = [[([0, 1], 2.0), ([2, 3], -2.0)]] * 20
    skill = openskill_team_ratings(events, 4)
    assert skill[0] == skill[1] and skill[2] == skill[3] and skill[0][0] > 25 > skill[2][0]
    assert pair_records(events[:1]) == [(0, 2, 1.0), (0, 3, 1.0), (1, 2, 1.0), (1, 3, 1.0)]


@pytest.mark.parametrize("game", ["spy@3", "textarena_liars_dice"])
def test_invalid_player_is_rated_last_in_a_three_seat_league(game):
    entries = [LeagueEntry("random_a", "random"), LeagueEntry("random_b", "random"),
               LeagueEntry("invalid", AlwaysInvalid())]
    result = run_league(entries, game, matches=24)
    assert result.match_counts() == [24, 24, 24]
    ratings = mu(result)
    assert ratings["invalid"] < min(ratings["random_a"], ratings["random_b"])
    elo = {name: e for name, (e, _, _) in zip(result.names, result.elo(bootstrap=0))}
    assert elo["invalid"] == min(elo.values())
    assert result.mean_return[2, 0] < 0 < result.mean_return[0, 2]


def test_cooperative_league_rates_teams_by_their_score():
    # hanabi@3 is one team per match; four players make two matches a round, paired into one event:
    # a team with the invalid player scores the penalty, a team of rule-based players does not.
    entries = [LeagueEntry(f"rules_{k}", "hanabi_rules") for k in range(3)] + [LeagueEntry("invalid", AlwaysInvalid())]
    result = run_league(entries, "hanabi@3", matches=12)
    assert len(result.events) == 12 and all(len(event) == 2 for event in result.events)
    ratings = mu(result)
    assert ratings["invalid"] < 25 < min(ratings[f"rules_{k}"] for k in range(3))


def test_league_cli_on_a_three_seat_game_with_a_tiny_checkpoint(tiny, tmp_path):
    model, tokenizer = tiny
    run = tmp_path / "run"
    checkpoint = run / "checkpoints" / "step_000002"
    model.save_pretrained(checkpoint / "model")
    tokenizer.save_pretrained(checkpoint / "model")
    (checkpoint / "trainer_state.pt").write_bytes(b"")
    (run / "config.yaml").write_text("model: {name: tiny}\ngames: {names: [spy@3]}\nrollout: {max_new_tokens: 6}\n")
    run_command(["league", str(run), "--fixed", "random", "--matches", "2"])
    data = json.loads((run / "league" / "league.json").read_text())
    assert data["game"] == "spy@3"
    assert [p["name"] for p in data["players"]] == [f"{run}/step_000002", "random"]
    assert [p["matches"] for p in data["players"]] == [2, 2]
    assert (run / "league" / "league_matrix.png").stat().st_size > 1000


def test_replay_prints_every_seat_of_a_four_seat_transcript(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    run_command(["arena", "spy", "random", "random", "random", "random", "--matches", "2", "--out", str(out)])
    record = json.loads(out.read_text().splitlines()[0])
    run_command(["replay", str(out)])
    text = capsys.readouterr().out
    for number, turn in enumerate(record["turns"], 1):
        assert f"turn {number}: {turn['role']} ({record['seats'][turn['seat']]})" in text
    assert {t["seat"] for t in record["turns"]} == {0, 1, 2, 3}
    for seat, value in enumerate(record["returns"]):
        assert f"({record['seats'][seat]}): {value:+g}" in text
