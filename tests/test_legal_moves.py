"""Legal-move scoring (`rollout.moves: legal`): the LM samples among the legal moves' answers by its own
probabilities of them, instead of writing text."""

from __future__ import annotations

import math
from functools import partial

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


def test_an_older_runs_renormalise_field_is_dropped_with_a_warning(caplog):
    """Runs saved before legal-move play always renormalised hold algo.renormalise; they still load, and say so."""
    from sparring.config import config_from_dict

    with caplog.at_level("WARNING"):
        cfg = config_from_dict({"algo": {"renormalise": False, "loss": "reinforce"}, "rollout": {"moves": "legal"}})
    assert cfg.algo.loss == "reinforce" and not hasattr(cfg.algo, "renormalise")
    assert "algo.renormalise" in caplog.text and "ignored" in caplog.text


@pytest.mark.parametrize("options, words", [
    ({"moves": "guess"}, "unknown moves"),
    ({"moves": "legal", "template": "spiral"}, "short template"),
    ({"moves": "legal", "role_adapters": True}, "per-role adapters"),
])
def test_the_player_refuses_settings_it_cannot_score(tiny, options, words):
    from sparring.errors import SparringError

    with pytest.raises(SparringError, match=words):
        LMPlayer(*tiny, **options)


def renormalising_learner(tmp_path, renormalise: bool):
    """The learner a run builds (`build_learner`): with legal-move play when `renormalise`, else with written
    answers (whose samples a magnet may still give legal answers)."""
    from sparring.training.policy import build_policy
    from sparring.training.algorithms.policy_gradient import TokenObjective
    from sparring.training.trainer import build_learner

    moves = "legal" if renormalise else "free"
    cfg = load_config(None, ["model.name=tiny", "model.lora_r=4", f"rollout.moves={moves}", "algo.loss=reinforce",
                             "algo.ppo_epochs=1", "algo.constant_length=1", "trainer.max_grad_norm=1e9",
                             "trainer.lr=0.01", f"trainer.run_dir={tmp_path}"])
    torch.manual_seed(0)
    model, _ = build_policy(cfg.model)
    learner = build_learner(cfg, model, roles=[])
    learner.step = partial(learner.step, objective=TokenObjective(cfg.algo))
    return model, learner


def legal_samples(model, answers: list[list[int]]):
    """Four decisions at distinct prompts, each answered with its first legal answer, advantages of both signs,
    sampled by this very model as in a run (drift 0, importance weights 1)."""
    from sparring.training.learner import LearnerSample

    prompts = [[1, 2, 3 + k] for k in range(4)]
    with torch.no_grad():
        sampled = sequence_logprobs(model, prompts, [answers[0]] * 4)
    return [LearnerSample(prompt, answers[0], logps.tolist(), advantage, legal_answers=answers)
            for prompt, logps, advantage in zip(prompts, sampled, (1.0, -1.0, -0.5, -2.0))]


def test_renormalised_learner_follows_the_gradient_of_the_played_policy(tmp_path):
    """Legal-move play: the policy term is -A * log of the answer's probability among the legal answers (the
    distribution the move was drawn from); with written answers, the raw log-prob of the answer."""
    from sparring.logprobs import answer_logprobs

    gradients = {}
    for renormalise in (True, False):
        model, learner = renormalising_learner(tmp_path, renormalise)
        batch = legal_samples(model, [[40, 41], [50], [60, 61]])
        params = [p for p in model.parameters() if p.requires_grad]
        logps = answer_logprobs(model, [s.prompt_ids for s in batch], [s.legal_answers for s in batch])
        played = [lp[0] - lp.logsumexp(0) if renormalise else lp[0] for lp in logps]
        (-torch.stack([s.advantage * p for s, p in zip(batch, played)]).mean()).backward()
        expected = [p.grad.clone() for p in params]
        model.zero_grad(set_to_none=True)
        stats = learner.step(batch)
        gradients[renormalise] = [p.grad.clone() for p in params]
        assert max(float((g - e).abs().max()) for g, e in zip(gradients[renormalise], expected)) < 1e-5
        assert stats["logprob_drift"] < 1e-5  # the sampler's log-probs are renormalised alike
    assert max(float((a - b).abs().max()) for a, b in zip(gradients[True], gradients[False])) > 1e-2


def test_a_forced_move_teaches_nothing_once_renormalised(tmp_path):
    """One legal answer has probability 1 among the legal answers: no gradient, whatever its advantage."""
    largest = {}
    for renormalise in (True, False):
        model, learner = renormalising_learner(tmp_path, renormalise)
        learner.step(legal_samples(model, [[40, 41]]))
        largest[renormalise] = max(float(p.grad.abs().max()) for p in model.parameters() if p.requires_grad)
    assert largest[True] < 1e-6  # float rounding of log p - log p
    assert largest[False] > 1e-2  # the raw token log-prob still moves
