"""Closed-answer roles and the warm start: the sneaky_critic critic chooses among its legal answers, and a
supervised start on the game's labelled turns teaches it the rule's answers before self-play."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sparring.config import ConfigError, load_config
from sparring.games import make_game
from sparring.games.sneaky_critic import CORRECT, first_wrong_step
from sparring.model import load_model
from sparring.players.lm import LMPlayer, encode_prompts, legal_answer_logprobs
from sparring.training.metrics import read_metrics
from sparring.training.trainer import train

CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"
CLOSED = ("games.names=[sneaky_critic]", "rollout.moves=legal")


@pytest.fixture(scope="module")
def game():
    return make_game("sneaky_critic")


def test_the_critic_answers_from_a_closed_set_and_the_sneaky_seat_writes(game):
    match = next(m for m in (game.new_match(s) for s in range(50)) if not m.is_gold)
    assert match.legal_moves() == []  # the plant is open
    match.submit("\\boxed{1: 99999}")
    steps = len(match.shown)
    assert match.legal_moves() == [*(str(k) for k in range(1, steps + 1)), CORRECT]
    assert all(match.parse("\\boxed{" + move + "}") == move for move in match.legal_moves())


def test_a_labelled_turn_is_the_critics_turn_with_the_rules_first_wrong_step(game):
    labels = []
    for seed in range(200):
        observation, label = game.labelled_turn(seed)
        match = observation.match
        assert observation.seat == 1 and match.role(1) == "critic" and label in observation.legal_moves
        assert label == str(first_wrong_step(match.shown_text()) or CORRECT)
        assert (label == CORRECT) == match.is_gold  # a planted error is always wrong, a gold step never
        again, same = game.labelled_turn(seed)
        assert (again.prompt, same) == (observation.prompt, label)
        labels.append(label)
    assert 0.4 < labels.count(CORRECT) / len(labels) < 0.6
    assert {"1", "2"} <= set(labels)


def test_a_game_without_labels_refuses_a_warm_start_in_one_line(tmp_path):
    with pytest.raises(Exception, match="warm_start.steps needs a game with labelled turns"):
        train(load_config(CONFIG, [f"trainer.run_dir={tmp_path}", "warm_start.steps=2"]))
    with pytest.raises(ConfigError, match="warm_start.steps must be at least 0"):
        load_config(CONFIG, ["warm_start.steps=-1"])
    with pytest.raises(ConfigError, match="warm_start.items must be at least 1"):
        load_config(CONFIG, ["warm_start.items=0"])
    with pytest.raises(Exception, match="kuhn_poker has no labelled turns"):
        make_game("kuhn_poker").labelled_turn(0)


def right_answer_nll(model, tokenizer, game, seeds) -> float:
    """Mean -log pi(label) over the labelled turns of `seeds`, pi renormalised over the legal answers."""
    player = LMPlayer(model, tokenizer, template="short", moves="legal")
    turns = [game.labelled_turn(seed) for seed in seeds]
    observations = [obs for obs, _ in turns]
    prompt_ids = encode_prompts(tokenizer, [player.render(obs) for obs in observations])
    with torch.no_grad():
        scored = legal_answer_logprobs(model, tokenizer, "short", observations, prompt_ids, 1.0)
    total = 0.0
    for (obs, label), candidates in zip(turns, scored):
        logps = torch.stack([lp.sum() for _, lp in candidates])
        total -= float(logps.log_softmax(0)[obs.legal_moves.index(label)])
    return total / len(turns)


def test_the_warm_start_trains_on_labelled_turns_then_hands_over_to_self_play(tmp_path, game):
    cfg = load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", *CLOSED, "warm_start.steps=4",
                               "warm_start.items=32", "trainer.steps=5", "trainer.lr=3e-3"])
    run = train(cfg)
    metrics = read_metrics(run)
    assert [m["samples"] for m in metrics[:4]] == [32] * 4 and all(m["warm_start/active"] == 1.0 for m in metrics[:4])
    assert "warm_start/active" not in metrics[4] and "advantage/sneaky_critic/critic" in metrics[4]
    assert all(m["critic/format_rate"] == 1.0 for m in metrics if "critic/format_rate" in m)
    held = range(10**6, 10**6 + 48)  # labelled turns the warm start did not draw
    initial, tokenizer = load_model("tiny")
    trained, _ = load_model(str(run / "checkpoints" / "step_000005" / "model"))
    assert right_answer_nll(trained, tokenizer, game, held) < right_answer_nll(initial, tokenizer, game, held) - 0.05


def test_the_closed_critic_plays_an_exact_distribution_over_its_answers(tiny, game):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, template="short", moves="legal", max_new_tokens=6)
    critic = [game.labelled_turn(seed)[0] for seed in range(6)]
    sneaky = next(m for m in (game.new_match(s) for s in range(50)) if not m.is_gold).observe()
    *judged, planted = player.act_batch([*critic, sneaky])
    for obs, action in zip(critic, judged):
        probs = action.extra["legal_probs"]
        assert len(probs) == len(obs.legal_moves) and abs(sum(probs) - 1) < 1e-5
        assert obs.match.parse(action.text) in obs.legal_moves
    assert "legal_probs" not in planted.extra  # the plant is written


def test_eval_scores_a_closed_critic_on_held_out_items(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sparring", "eval", "tiny", "--games", "sneaky_critic", "--items", "8",
                             "--moves", "legal", "--template", "short"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "format 100.0%" in result.stdout and "max_digits 2)" in result.stdout
    one_digit = subprocess.run([sys.executable, "-m", "sparring", "eval", "tiny", "--games", "sneaky_critic", "--items", "4",
                                "--moves", "legal", "--template", "short", "--max-digits", "1"],
                               capture_output=True, text=True, timeout=300)
    assert one_digit.returncode == 0 and "max_digits 1)" in one_digit.stdout, one_digit.stderr


def test_ask_answer_verify_labels_each_role_from_passages_that_state_their_answer(tmp_path):
    from sparring.games.ask_answer_verify import AskAnswerVerifyGame, rule_label

    game = make_game("ask_answer_verify")
    seats, verdicts = set(), []
    for seed in range(120):
        observation, label = game.labelled_turn(seed)
        match = observation.match
        assert match.parse("\\boxed{" + label + "}") == label  # the right answer is a valid move there
        assert match.role(observation.seat) in game.labelled_roles
        seats.add(observation.seat)
        if observation.seat == 2:
            assert observation.legal_moves == ["yes", "no"]
            attempt = match.seat_moves(1)[0]
            assert label == ("yes" if rule_label(attempt, match.reference) else "no")
            verdicts.append(label)
        else:
            assert observation.legal_moves == []
    assert seats == {0, 1, 2} and {"yes", "no"} == set(verdicts)
    (tmp_path / "notes.txt").write_text("A passage with no question.\n\nAnother one.")
    with pytest.raises(Exception, match="no passage of the corpus states a question"):
        AskAnswerVerifyGame(corpus=str(tmp_path)).labelled_turn(0)


def test_the_supervised_loss_is_the_cross_entropy_over_the_legal_answers(tmp_path):
    from sparring.logprobs import answer_logprobs
    from sparring.training.algorithms.warm_start import SupervisedObjective
    from sparring.training.learner import Learner, LearnerSample
    from sparring.training.policy import build_policy

    cfg = load_config(CONFIG, ["algo.ppo_epochs=1"])
    torch.manual_seed(0)
    model, _ = build_policy(cfg.model)
    answers = [[[11, 12]], [[13]], [[14, 15, 16]]]
    legal = [[a[0] for a in answers], [[13], [17, 18]], [[14, 15, 16], [19]]]
    prompts = [[1, 2, 3, 4], [1, 2, 5], [6, 7, 8, 9, 10]]
    samples = [LearnerSample(p, a[0], [0.0] * len(a[0]), 1.0, choices) for p, a, choices in zip(prompts, answers, legal)]
    with torch.no_grad():
        scored = answer_logprobs(model, prompts, legal, 1.0)
    expected = -sum(float(logps.log_softmax(0)[choices.index(s.completion_ids)])
                    for logps, choices, s in zip(scored, legal, samples)) / len(samples)
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False, legal_moves=True)
    stats = learner.step(samples, objective=SupervisedObjective())
    assert stats["warm_start/first_epoch_loss"] == pytest.approx(expected, rel=1e-4)
    # written answers (no renormalising): the answer tokens' own negative log-likelihood
    plain = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False, legal_moves=False)
    with torch.no_grad():
        own = answer_logprobs(model, prompts, [[s.completion_ids] for s in samples], 1.0)
    stats = plain.step(samples, objective=SupervisedObjective())
    assert stats["warm_start/first_epoch_loss"] == pytest.approx(-sum(float(t[0]) for t in own) / 3, rel=1e-4)


def test_warm_start_accuracy_counts_only_the_closed_answer_turns(tmp_path):
    from sparring.training.algorithms.warm_start import SupervisedObjective
    from sparring.training.learner import Learner, LearnerSample
    from sparring.training.policy import build_policy

    cfg = load_config(CONFIG, ["algo.ppo_epochs=1"])
    torch.manual_seed(0)
    model, _ = build_policy(cfg.model)
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False, legal_moves=True)
    written = [LearnerSample([1, 2, 3], [11, 12], [0.0, 0.0], 1.0), LearnerSample([4, 5], [13], [0.0], 1.0)]
    assert "warm_start/accuracy" not in learner.step(written, objective=SupervisedObjective())
    with torch.no_grad():
        from sparring.logprobs import answer_logprobs
        scores = answer_logprobs(model, [[6, 7]], [[[14], [15]]], 1.0)[0]
    ranked_first = [[14], [15]][int(scores.argmax())]
    closed = LearnerSample([6, 7], ranked_first, [0.0], 1.0, [[14], [15]])
    assert learner.step([*written, closed], objective=SupervisedObjective())["warm_start/accuracy"] == 1.0


def test_one_digit_items_for_a_critic_that_cannot_check_two_digit_arithmetic():
    import re

    from sparring.games.sneaky_critic import SneakyCriticGame

    game = make_game("sneaky_critic", load_config(None, ["judged.max_digits=1"]))
    numbers = [int(n) for seed in range(40) for n in re.findall(r"\d+", game.new_match(seed).expression)]
    assert numbers and max(numbers) <= 10  # reasoning-gym's basic_arithmetic draws up to 10 ** max_digits itself
    assert max(int(n) for seed in range(40) for n in re.findall(r"\d+", make_game("sneaky_critic").new_match(seed).expression)) > 9
    with pytest.raises(Exception, match="max_digits must be between 1 and 4"):
        SneakyCriticGame(max_digits=0)
