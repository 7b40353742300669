"""Legal-move scoring (`rollout.moves: legal`): the LM samples among the legal moves' answers by its own
probabilities of them, instead of writing text."""

from __future__ import annotations

import math

import pytest
import torch

from sparring.config import ConfigError, load_config
from sparring.evaluation.exploitability import lm_policy
from sparring.games import make_game
from sparring.games.templates import answer_ids
from sparring.players.lm import LMPlayer, legal_answer_logprobs, sequence_logprobs


def tic_tac_toe_observation():
    match = make_game("tic_tac_toe").new_match(3)
    return match.observe()


def test_draws_follow_the_scored_distribution_of_the_legal_answers(tiny):
    """4000 draws at one state: each move's count matches the probability the exploitability scorer gives it."""
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, temperature=1.0, moves="legal")
    obs = tic_tac_toe_observation()
    expected = lm_policy("tic_tac_toe", player).scorer([obs])[0]
    assert len(expected) == 9 and max(expected.values()) < 0.9  # a real mixed strategy to compare with
    torch.manual_seed(0)
    n = 4000
    moves = [obs.match.parse(a.text) for a in player.act_batch([obs] * n)]
    assert None not in moves
    chi2 = sum((moves.count(m) - n * p) ** 2 / (n * p) for m, p in expected.items())
    assert chi2 < 26.1  # the 0.999 quantile of chi-square with 8 degrees of freedom


def test_an_action_carries_the_answer_tokens_and_their_log_probs(tiny):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, temperature=0.7, moves="legal")
    obs = make_game("kuhn_poker").new_match(1).observe()
    torch.manual_seed(1)
    action = player.act_batch([obs])[0]
    move = obs.match.parse(action.text)
    assert move in obs.legal_moves
    extra = action.extra
    assert extra["completion_ids"] == answer_ids(tokenizer, "short", obs.answer_format, move, obs.legal_moves)
    fresh = sequence_logprobs(model, [extra["prompt_ids"]], [extra["completion_ids"]], temperature=0.7)[0]
    assert extra["logprobs"] == pytest.approx(fresh.tolist(), abs=1e-5)
    assert extra["stop"] == "answer" and player.tokens_generated == len(extra["completion_ids"])


def test_greedy_takes_the_most_likely_legal_answer(tiny):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, greedy=True, moves="legal")
    obs = tic_tac_toe_observation()
    scored = legal_answer_logprobs(model, tokenizer, "short", [obs], [player.act_batch([obs])[0].extra["prompt_ids"]])[0]
    best = max(range(len(scored)), key=lambda k: float(scored[k][1].sum()))
    assert obs.match.parse(player.act_batch([obs])[0].text) == obs.legal_moves[best]


def test_open_text_turns_are_still_written(tiny):
    """A batch mixing a game decision and a reasoning question: the question is generated, not scored."""
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, max_new_tokens=3, moves="legal")
    game_obs = make_game("kuhn_poker").new_match(0).observe()
    task_obs = make_game("reasoning:chain_sum").new_match(0).observe()
    assert not task_obs.legal_moves
    torch.manual_seed(0)
    scored, written = player.act_batch([game_obs, task_obs])
    assert game_obs.match.parse(scored.text) in game_obs.legal_moves
    assert written.extra["stop"] in ("answer", "eos", "length") and written.extra["legal_moves"] == []


def test_a_legal_move_run_plays_no_invalid_move_and_samples_what_the_learner_scores(tmp_path):
    from sparring.training.trainer import train
    import json

    cfg = load_config(None, ["model.name=tiny", "rollout.moves=legal", "rollout.turns_per_step=16",
                             "rollout.concurrency=8", "trainer.steps=2", f"trainer.run_dir={tmp_path}/run",
                             "algo.loss=reinforce"])
    train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        rates = [v for k, v in row.items() if k.startswith("invalid_rate/")]
        assert len(rates) == 2 and rates == [0.0, 0.0]
        assert math.isclose(row["logprob_drift"], 0.0, abs_tol=1e-5)


@pytest.mark.parametrize("overrides, words", [
    (["rollout.moves=legal", "games.template=spiral"], "rollout.moves=legal"),
    (["rollout.moves=legal", "model.adapters_per_role=true"], "legal-move scoring"),
    (["rollout.moves=guess"], "rollout.moves"),
])
def test_config_errors_name_the_setting(overrides, words):
    with pytest.raises(ConfigError, match=words):
        load_config(None, overrides)


@pytest.mark.parametrize("options, words", [
    ({"moves": "guess"}, "unknown moves"),
    ({"moves": "legal", "template": "spiral"}, "short template"),
    ({"moves": "legal", "role_adapters": True}, "per-role adapters"),
])
def test_the_player_refuses_settings_it_cannot_score(tiny, options, words):
    from sparring.errors import SparringError

    with pytest.raises(SparringError, match=words):
        LMPlayer(*tiny, **options)
