"""Evaluation that proves skill: LM policies through OpenSpiel, ratings, plots, transcripts, commands."""

from __future__ import annotations

import argparse
import json
import math
from html.parser import HTMLParser

import numpy as np
import pyspiel
import pytest
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import best_response
from open_spiel.python.algorithms import exploitability as os_exploitability

from sparring.errors import SparringError
from sparring.evaluation.evaluate import evaluate, read_eval
from sparring.evaluation.exact_league import entry_policy, exact_cross_play, run_exact_league, seat_averaged_value
from sparring.evaluation.exploitability import (LanguagePolicy, SampleScorer, best_single_move, cfr_tabular_policy,
                                                exploitability, lm_policy, match_at_state, reference_points,
                                                single_move_policy)
from sparring.evaluation.league import LeagueEntry, run_league
from sparring.evaluation.ratings import elo_ratings, openskill_ratings
from sparring.players.base import Action, Player

KUHN_INFO_STATES = 12


def kuhn_rule(card: str, facing_bet: bool) -> dict[str, float]:
    """Always bet with a King; pass (fold) with a Jack facing a bet; uniform otherwise."""
    if card == "King":
        return {"pass": 0.0, "bet": 1.0}
    if card == "Jack" and facing_bet:
        return {"pass": 1.0, "bet": 0.0}
    return {"pass": 0.5, "bet": 0.5}


def prompt_scorer(observations):
    """A stand-in scorer that reads the prompt sparring shows the seat, as a model would."""
    weights = []
    for obs in observations:
        card = obs.prompt.split("Your card: ")[1].split(".")[0]
        betting = obs.prompt.split("Betting so far: ")[1].split(".")[0]
        weights.append(kuhn_rule(card, betting.endswith("bets")))
    return weights


def test_lm_policy_is_a_distribution_at_every_kuhn_info_state(tiny):
    from sparring.players.lm import LMPlayer

    policy = lm_policy("kuhn_poker", LMPlayer(*tiny), mode="likelihood")
    states = policy.information_states()
    assert len(states) == KUHN_INFO_STATES
    calls = []
    scorer = policy.scorer
    policy.scorer = lambda observations: calls.append(len(observations)) or scorer(observations)
    policy.precompute()
    assert calls == [KUHN_INFO_STATES]  # every legal move of every state scored in one call
    for state in states:
        probs = policy.action_probabilities(state)
        assert sorted(probs) == sorted(state.legal_actions())
        assert all(p >= 0 for p in probs.values())
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)
    assert 0 <= exploitability("kuhn_poker", policy) <= 2


def test_likelihood_scorer_sees_the_prompt_the_player_sees(tiny):
    from sparring.players.lm import LMPlayer

    player = LMPlayer(*tiny, max_new_tokens=1)
    scorer = lm_policy("kuhn_poker", player).scorer
    from sparring.games import make_game

    obs = make_game("kuhn_poker").new_match(5).observe()
    assert scorer.prompt_ids(obs) == player.act_batch([obs])[0].extra["prompt_ids"]
    from sparring.games.templates import answer_ids

    bet = answer_ids(tiny[1], "short", obs.answer_format, "bet", obs.legal_moves)
    assert tiny[1].decode(scorer.prompt_ids(obs) + bet).endswith("\\boxed{bet")


def test_a_move_is_scored_by_its_choice_not_by_its_closing_punctuation(tiny):
    from sparring.games.templates import answer_ids

    tokenizer = tiny[1]
    chosen = answer_ids(tokenizer, "short", "boxed", "bet", ["pass", "bet"])
    assert tokenizer.decode(chosen) == "bet"
    for written in ("bet}", "bet}.", "bet} ", "bet},"):  # every way of closing it starts with the same tokens
        assert tokenizer(written, add_special_tokens=False).input_ids[:len(chosen)] == chosen
    # where one legal move begins another, the closer is what tells them apart, so it stays
    assert tokenizer.decode(answer_ids(tokenizer, "short", "bracket", "1", ["1", "10"])) == "1]"
    assert tokenizer.decode(answer_ids(tokenizer, "spiral", "boxed", "10", ["1", "10"])) == "\\boxed{10"


def test_policy_through_prompts_equals_the_same_tabular_policy():
    game = pyspiel.load_game("kuhn_poker")
    tabular = policy_lib.TabularPolicy(game)
    cards = ("Jack", "Queen", "King")
    for key in tabular.state_lookup:
        rule = kuhn_rule(cards[int(key[0])], key.endswith("b"))
        tabular.policy_for_key(key)[:] = [rule["pass"], rule["bet"]]
    expected = os_exploitability.exploitability(game, tabular)
    ours = LanguagePolicy("kuhn_poker", prompt_scorer)
    assert exploitability("kuhn_poker", ours) == expected
    assert expected != pytest.approx(11 / 24)  # the rule is not the uniform policy


def test_uniform_policy_exploitability_is_eleven_over_twenty_four():
    uniform = LanguagePolicy("kuhn_poker", lambda obs: [dict.fromkeys(o.legal_moves, 1.0) for o in obs])
    assert exploitability("kuhn_poker", uniform) == pytest.approx(11 / 24, abs=1e-12)


def test_leduc_states_that_read_the_same_are_scored_once_and_keep_their_own_actions():
    import zlib

    asked: list[tuple] = []

    def scorer(observations):  # weights that depend on the prompt text alone, as a model's do
        asked.extend((o.seat, o.prompt, tuple(o.legal_moves)) for o in observations)
        return [{m: 1.0 + zlib.crc32(f"{o.prompt}|{m}".encode()) % 7 for m in o.legal_moves} for o in observations]

    policy = LanguagePolicy("leduc_poker", scorer)
    states = policy.information_states()
    assert policy.precompute() == len(states) == 936
    assert len(asked) == len(set(asked)) == 288  # suits never reach the prompt: each prompt asked once
    for state in states:  # and every state reads its own weights, mapped onto its own actions
        match = match_at_state(policy.language_game, state)
        weights = scorer([match.observe()])[0]
        total = sum(weights.values())
        expected = {a: weights[match.move_name(a)] / total for a in state.legal_actions()}
        assert policy.action_probabilities(state) == pytest.approx(expected, abs=1e-12)


class Babbler(Player):
    name = "babbler"

    def act_batch(self, observations):
        return [Action("I fold? \\boxed{raise}") for _ in observations]


def test_sample_mode_all_invalid_answers_give_the_uniform_policy():
    policy = LanguagePolicy("kuhn_poker", SampleScorer(Babbler(), samples=3))
    assert exploitability("kuhn_poker", policy) == pytest.approx(11 / 24, abs=1e-12)


def test_match_at_state_shows_the_seat_its_information():
    game = pyspiel.load_game("kuhn_poker")
    state = game.new_initial_state()
    for action in (2, 0, 1):  # King to player 0, Jack to player 1, player 0 bets
        state.apply_action(action)
    from sparring.games import make_game

    match = match_at_state(make_game("kuhn_poker"), state)
    obs = match.observe()
    assert obs.seat == 1 and "Your card: Jack" in obs.prompt and "player_0 bets" in obs.prompt
    assert obs.legal_moves == ["pass", "bet"]
    assert state.history() == [2, 0, 1]  # the given state is not touched


def synthetic_records():
    # A beats B 8-2, B beats C 8-2, A beats C 9-1, one draw between A and B.
    records = []
    for i, j, won, lost in ((0, 1, 8, 2), (1, 2, 8, 2), (0, 2, 9, 1)):
        records += [(i, j, 1.0)] * won + [(i, j, 0.0)] * lost
    return records + [(0, 1, 0.5)]


def test_elo_and_openskill_order_a_over_b_over_c():
    elo = elo_ratings(synthetic_records(), 3, bootstrap=50)
    assert elo[0][0] > elo[1][0] > elo[2][0]
    assert sum(e[0] for e in elo) == pytest.approx(0, abs=1e-6)
    assert all(low <= point <= high for point, low, high in elo)
    skill = openskill_ratings(synthetic_records(), 3)
    assert skill[0][0] > skill[1][0] > skill[2][0]


def test_league_of_fixed_players_writes_json_and_heatmap(tmp_path):
    entries = [LeagueEntry("random", "random"), LeagueEntry("cfr", "cfr")]
    result = run_league(entries, "kuhn_poker", matches=6)
    assert result.matches[0, 1] == 6 and result.mean_return[0, 1] == pytest.approx(-result.mean_return[1, 0])
    paths = result.save(tmp_path)
    data = json.loads(paths[0].read_text())
    assert [p["name"] for p in data["players"]] == ["random", "cfr"]
    assert paths[1].stat().st_size > 1000


def test_evaluate_appends_rate_and_exploitability_rows(tmp_path):
    rows = evaluate("random", ["kuhn_poker"], opponents=["random", "cfr", "minimax"], matches=4, seed=1,
                    run_dir=tmp_path, step=7, exploitability_mode="sample", samples=2)
    assert rows == read_eval(tmp_path)
    match_rows = [r for r in rows if "metric" not in r]
    assert {r["opponent"] for r in match_rows} == {"random", "cfr:1000"}  # minimax cannot play poker
    assert {r["seat"] for r in match_rows} == {0, 1, "all"}
    assert all(r["step"] == 7 and r["win_low"] <= r["win"] <= r["win_high"] for r in match_rows)
    (expl,) = [r for r in rows if r.get("metric") == "exploitability"]
    assert expl["game"] == "kuhn_poker" and 0 <= expl["value"] and expl["uniform"] == pytest.approx(11 / 24)
    assert expl["cfr"] < 0.01
    assert (expl["always_move"], expl["always"]) == ("bet", pytest.approx(1 / 3))


def test_single_move_policies_have_their_known_exploitability():
    kuhn, leduc = pyspiel.load_game("kuhn_poker"), pyspiel.load_game("leduc_poker")
    # Kuhn: always passing folds to every bet (a best response bets and wins the ante: 1); always betting
    # is the collapsed self-play strategy (1/3).
    assert exploitability(kuhn, single_move_policy(kuhn, 0)) == pytest.approx(1.0)
    assert exploitability(kuhn, single_move_policy(kuhn, 1)) == pytest.approx(1 / 3)
    # Leduc: "fold" checks when nothing is to be called and folds to any raise, so a best response
    # raises and wins the ante, exactly 1; always calling is 22/15.
    assert exploitability(leduc, single_move_policy(leduc, 0)) == pytest.approx(1.0)
    assert exploitability(leduc, single_move_policy(leduc, 1)) == pytest.approx(22 / 15)
    assert best_single_move(leduc) == ("fold", pytest.approx(1.0))
    assert reference_points("leduc_poker")["always:fold"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- run-dir fixtures


def write_fake_run(run_dir):
    """A small fake run: metrics, evaluation rows and one transcript file (fixture data)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "metrics.jsonl").open("w") as out:
        for step in range(1, 6):
            out.write(json.dumps({
                "step": step, "wall_time": 100.0 + step, "loss": 1 / step, "kl": 0.01 * step, "entropy": 2 - 0.1 * step,
                "response_length": 10 + step, "win_rate/kuhn_poker/player_0": 0.4 + 0.02 * step,
                "win_rate/kuhn_poker/player_1": 0.6 - 0.02 * step, "invalid_rate/kuhn_poker/player_0": 0.5 / step,
            }) + "\n")
    rows = []
    for step in (0, 5):
        for seat in (0, 1, "all"):
            rows.append({"step": step, "game": "kuhn_poker", "player": "lm", "opponent": "random", "seat": seat,
                         "role": "all" if seat == "all" else f"player_{seat}", "matches": 32,
                         **{k: v for key in ("win", "draw", "loss", "invalid")
                            for k, v in ((key, 0.25), (f"{key}_low", 0.1), (f"{key}_high", 0.4))},
                         "mean_return": 0.1, "mean_return_low": -0.2, "mean_return_high": 0.4})
        rows.append({"step": step, "game": "kuhn_poker", "player": "lm", "metric": "exploitability",
                     "value": 0.9 - 0.1 * step, "nash_conv": 1.8, "mode": "likelihood", "uniform": 0.458, "cfr": 0.001})
    (run_dir / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    transcripts = run_dir / "transcripts"
    transcripts.mkdir()
    matches = [
        {"game": "kuhn_poker", "seed": 3, "seats": ["lm", "random"], "returns": [1.0, -1.0], "turns": [
            {"seat": 0, "role": "player_0", "prompt": "Your card: King. <b>bold?</b>", "text": "\\boxed{bet}", "move": "bet"},
            {"seat": 1, "role": "player_1", "prompt": "Your card: Jack.", "text": "\\boxed{pass}", "move": "pass"}]},
        {"game": "kuhn_poker", "seed": 4, "seats": ["random", "lm"], "returns": [1.0, -1.0], "turns": [
            {"seat": 0, "role": "player_0", "prompt": "Your card: Queen.", "text": "\\boxed{pass}", "move": "pass"},
            {"seat": 1, "role": "player_1", "prompt": "Your card: Jack.", "text": "</pre><script>x</script>", "move": None}]},
    ]
    path = transcripts / "step_000005.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in matches))
    return path


def run_command(argv):
    from sparring.cli.eval import add_eval_commands

    parser = argparse.ArgumentParser(prog="sparring")
    add_eval_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.run(args)


def test_plot_command_writes_every_plot_whose_keys_exist(tmp_path, capsys):
    write_fake_run(tmp_path / "run")
    run_command(["plot", str(tmp_path / "run")])
    written = {p.name for p in (tmp_path / "run" / "plots").iterdir()}
    assert {"train_win_rate.png", "train_invalid_rate.png", "eval_win_rate.png", "eval_invalid_rate.png",
            "exploitability.png", "response_length.png", "entropy.png", "kl.png", "loss.png"} == written
    assert all((tmp_path / "run" / "plots" / name).stat().st_size > 1000 for name in written)
    assert "wrote" in capsys.readouterr().out


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_replay_prints_a_match_and_html_lists_all_escaped(tmp_path, capsys):
    transcripts = write_fake_run(tmp_path / "run")
    run_command(["replay", str(transcripts), "--match", "1"])
    out = capsys.readouterr().out
    assert "INVALID" in out and "seed 4" in out and "+1" in out
    page = tmp_path / "page.html"
    run_command(["replay", str(transcripts), "--html", str(page)])
    parser = Collector()
    parser.feed(page.read_text())
    parser.close()
    assert parser.tags.count("details") == 2 and "script" not in parser.tags
    text = "".join(parser.text)
    assert "</pre><script>x</script>" in text and "<b>bold?</b>" in text and "INVALID" in text


def test_errors_are_one_line_sparring_errors(tmp_path):
    transcripts = write_fake_run(tmp_path / "run")
    with pytest.raises(SparringError, match="not found"):
        run_command(["plot", str(tmp_path / "missing")])
    with pytest.raises(SparringError, match="no checkpoints"):
        run_command(["eval", str(tmp_path / "run")])
    with pytest.raises(SparringError, match="no match 5"):
        run_command(["replay", str(transcripts), "--match", "5"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(SparringError, match="bad.jsonl:1 is not valid JSON"):
        run_command(["replay", str(bad)])
    with pytest.raises(SparringError, match="no checkpoints"):
        run_command(["league", str(tmp_path / "run"), "--fixed", "random"])


def tiny_run(tiny, run, step, config):
    """A run folder holding the tiny model as its checkpoint `step` and `config` as its config.yaml."""
    model, tokenizer = tiny
    checkpoint = run / "checkpoints" / f"step_{step:06d}"
    model.save_pretrained(checkpoint / "model")
    tokenizer.save_pretrained(checkpoint / "model")
    (checkpoint / "trainer_state.pt").write_bytes(b"")
    (run / "config.yaml").write_text(config)
    return run


def test_eval_and_league_on_a_run_with_a_tiny_checkpoint(tiny, tmp_path, capsys):
    run = tiny_run(tiny, tmp_path / "run", 4,
                   "model: {name: tiny}\ngames: {names: [kuhn_poker]}\nrollout: {max_new_tokens: 6}\n")
    run_command(["eval", str(run), "--matches", "2", "--opponents", "random"])
    rows = read_eval(run)
    assert {r["step"] for r in rows} == {4}
    assert {r.get("metric") for r in rows} == {None, "exploitability"}
    assert "appended" in capsys.readouterr().out
    run_command(["league", str(run), "--fixed", "random", "--matches", "2"])
    data = json.loads((run / "league" / "league.json").read_text())
    assert [p["name"] for p in data["players"]] == [f"{run}/step_000004", "random"]
    assert (run / "league" / "league_matrix.png").stat().st_size > 1000
    run_command(["league", str(run), "--fixed", "random", "--exact"])
    exact = json.loads((run / "league" / "league_exact.json").read_text())
    evaluated = next(r["value"] for r in rows if r.get("metric") == "exploitability")
    assert exact["players"][0]["exploitability"] == pytest.approx(evaluated, abs=1e-6)  # the same strategy table
    # the checkpoint's expected return against random is what random loses to it, seats swapped in a call of its own
    checkpoint = entry_policy(LeagueEntry("checkpoint", f"lm:{run / 'checkpoints' / 'step_000004' / 'model'}"),
                              "kuhn_poker")
    root = pyspiel.load_game("kuhn_poker").new_initial_state()
    random_vs_checkpoint = seat_averaged_value(root, policy_lib.UniformRandomPolicy(root.get_game()), checkpoint)
    assert exact["value"][0][1] == pytest.approx(-random_vs_checkpoint, abs=1e-9) and abs(random_vs_checkpoint) > 1e-3
    assert (run / "league" / "league_exact_matrix.png").stat().st_size > 1000


class JointPolicy(policy_lib.Policy):
    """Seat p plays policies[p]."""

    def __init__(self, game, policies):
        super().__init__(game, [0, 1])
        self.policies = policies

    def action_probabilities(self, state, player_id=None):
        return self.policies[state.current_player()].action_probabilities(state)


def test_exact_cross_play_gives_known_values_on_kuhn():
    game = pyspiel.load_game("kuhn_poker")
    uniform = policy_lib.UniformRandomPolicy(game)
    joint = JointPolicy(game, [best_response.BestResponsePolicy(game, p, uniform) for p in (0, 1)])
    best = policy_lib.tabular_policy_from_callable(game, joint)
    cfr = cfr_tabular_policy("kuhn_poker", 300)
    result = exact_cross_play(["uniform", "best response", "cfr"], [uniform, best, cfr], "kuhn_poker")
    assert result.value[0, 1] == pytest.approx(-11 / 24)  # what a best response wins against uniform play
    assert result.exploitability[0] == pytest.approx(11 / 24)
    # every pair again in the reverse order, so each (B, A) is a call of its own: zero-sum, (B, A) = -(A, B)
    swapped = exact_cross_play(["cfr", "best response", "uniform"], [cfr, best, uniform], "kuhn_poker")
    assert np.allclose(result.value, swapped.value[::-1, ::-1], equal_nan=True)
    # near-Nash play loses at most its own (small) exploitability to anyone, even to a best response
    assert result.value[2, 1] > -result.exploitability[2] - 1e-9 and result.exploitability[2] < 0.02


def test_an_exact_league_flags_a_later_checkpoint_that_loses_to_an_earlier_one():
    entries = [LeagueEntry("run/step_000010", "cfr:300"), LeagueEntry("run/step_000020", "random"),
               LeagueEntry("other/step_000005", "random")]
    result = run_exact_league(entries, "kuhn_poker")
    assert result.value[1, 0] < -0.05
    assert result.regressions() == [("run/step_000020", "run/step_000010", pytest.approx(result.value[1, 0]))]
    assert result.regressions(tolerance=1.0) == []  # and other/ is a different run: never compared
    with pytest.raises(SparringError, match="exact league needs a game"):
        run_exact_league(entries, "tic_tac_toe")


SPIRAL_REFUSED = "likelihood-mode exploitability scores the answer straight after the prompt, but template spiral"


def last_error(capsys) -> str:
    return capsys.readouterr().err.splitlines()[-1]


def test_likelihood_exploitability_of_a_policy_that_reasons_first_is_refused(tiny, tmp_path, capsys):
    from sparring.cli import main
    from sparring.config import ConfigError, load_config
    from sparring.players.lm import LMPlayer

    with pytest.raises(ConfigError, match="^trainer.exploitability_every scores .* games.template=spiral has the model"):
        load_config(None, ["games.template=spiral", "trainer.exploitability_every=1"])
    with pytest.raises(SparringError, match=f"^{SPIRAL_REFUSED}"):
        lm_policy("kuhn_poker", LMPlayer(*tiny, template="spiral"))
    run = tiny_run(tiny, tmp_path / "run", 4,
                   "games: {names: [kuhn_poker], template: spiral}\nrollout: {max_new_tokens: 4}\n")
    capsys.readouterr()
    assert main(["eval", str(run), "--matches", "2", "--opponents", "random"]) == 2
    assert last_error(capsys).startswith(f"sparring: error: {SPIRAL_REFUSED}")
    assert not (run / "eval.jsonl").exists()
    assert main(["league", str(run), "--fixed", "random", "--exact"]) == 2
    assert last_error(capsys).startswith(f"sparring: error: {SPIRAL_REFUSED}")
    # what the policy samples can still be measured
    assert main(["eval", str(run), "--matches", "2", "--opponents", "random", "--mode", "sample", "--samples", "1"]) == 0
    assert [r["mode"] for r in read_eval(run) if r.get("metric") == "exploitability"] == ["sample"]


def test_a_spiral_run_evaluates_against_random_without_a_likelihood_exploitability(tmp_path):
    from pathlib import Path

    from sparring.config import load_config
    from sparring.training.trainer import train

    config = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"
    run = train(load_config(config, [f"trainer.run_dir={tmp_path / 'run'}", "games.names=[kuhn_poker]",
                                     "games.template=spiral", "trainer.steps=1", "trainer.eval_every=1",
                                     "trainer.eval_matches=2"]))
    rows = read_eval(run)
    assert [r for r in rows if r.get("metric") == "exploitability"] == []
    assert rows and {r["opponent"] for r in rows} == {"random"}


def test_the_exact_league_reads_each_run_with_its_own_config(tiny, tmp_path):
    from dataclasses import replace

    from sparring.games.base import EVALUATION_RULES
    from sparring.players.lm import LMPlayer

    hot = tiny_run(tiny, tmp_path / "hot", 4, "games: {names: [kuhn_poker]}\nrollout: {temperature: 3.0}\n")
    bracket = tiny_run(tiny, tmp_path / "bracket", 4, "games: {names: [kuhn_poker], answer_format: bracket}\n")
    run_command(["league", str(hot), str(bracket), "--exact", "--out", str(tmp_path / "league")])
    exact = json.loads((tmp_path / "league" / "league_exact.json").read_text())

    def read(temperature, answer_format):
        rules = replace(EVALUATION_RULES, answer_format=answer_format)
        return exploitability("kuhn_poker", lm_policy("kuhn_poker", LMPlayer(*tiny, temperature=temperature), rules=rules))

    own = [read(3.0, "boxed"), read(1.0, "bracket")]
    assert [p["exploitability"] for p in exact["players"]] == pytest.approx(own, abs=1e-6)
    assert len({round(v, 4) for v in (*own, read(1.0, "boxed"))}) == 3  # temperature and format both matter


def test_the_sampled_league_plays_each_run_with_its_own_settings(tiny, tmp_path, monkeypatch):
    import sparring.players

    hot = tiny_run(tiny, tmp_path / "hot", 4, "games: {names: [kuhn_poker]}\nrollout: {temperature: 3.0, max_new_tokens: 4}\n")
    spiral = tiny_run(tiny, tmp_path / "spiral", 4, "games: {names: [kuhn_poker], template: spiral}\nrollout: {max_new_tokens: 5}\n")
    built, make_player = {}, sparring.players.make_player

    def recording(spec, seed=0, **options):
        built[spec] = options
        return make_player(spec, seed=seed, **options)

    monkeypatch.setattr(sparring.players, "make_player", recording)
    run_command(["league", str(hot), str(spiral), "--fixed", "random", "--matches", "1", "--out", str(tmp_path / "out")])
    settings = {spec: (o.get("template"), o.get("temperature"), o.get("max_new_tokens")) for spec, o in built.items()}
    model = "checkpoints/step_000004/model"
    assert settings == {f"lm:{hot / model}": ("short", 3.0, 4), f"lm:{spiral / model}": ("spiral", 1.0, 5),
                        "random": (None, None, None)}


def test_a_sampled_league_plays_its_matches_under_one_answer_format(tiny, tmp_path):
    boxed = tiny_run(tiny, tmp_path / "boxed", 4, "games: {names: [kuhn_poker]}\nrollout: {max_new_tokens: 4}\n")
    bracket = tiny_run(tiny, tmp_path / "bracket", 4, "games: {names: [kuhn_poker], answer_format: bracket}\n")
    with pytest.raises(SparringError, match=r"play under different match rules \(answer_format boxed vs bracket\)"):
        run_command(["league", str(boxed), str(bracket), "--matches", "1"])
    run_command(["league", str(boxed), str(bracket), "--matches", "1", "--answer-format", "bracket",
                 "--max-new-tokens", "4", "--out", str(tmp_path / "out")])
    assert [p["matches"] for p in json.loads((tmp_path / "out" / "league.json").read_text())["players"]] == [1, 1]


def test_a_league_refuses_mcts_on_a_game_with_hidden_information(tiny, tmp_path, capsys):
    from sparring.cli import main

    run = tiny_run(tiny, tmp_path / "run", 4, "games: {names: [kuhn_poker]}\nrollout: {max_new_tokens: 4}\n")
    assert main(["league", str(run), "--fixed", "mcts", "--matches", "1"]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("sparring: error: mcts searches the whole game state, so on kuhn_poker")


def test_runs_with_the_same_folder_name_stay_two_runs_in_an_exact_league(tiny, tmp_path):
    from sparring.evaluation.league import league_entries

    config = "games: {names: [kuhn_poker]}\n"
    first, second = tiny_run(tiny, tmp_path / "a" / "run", 4, config), tiny_run(tiny, tmp_path / "b" / "run", 8, config)
    entries = league_entries([first, second])
    assert [e.name for e in entries] == [f"{first}/step_000004", f"{second}/step_000008"]
    # every later-vs-earlier pair of one run is listed at an infinite tolerance: here there is none
    assert run_exact_league(entries, "kuhn_poker").regressions(tolerance=-math.inf) == []
