"""Regularisers: magnet KL over legal answers, entropy bonus, schedules, moving magnets, and a
tabular check that the magnet makes self-play converge where plain gradient play does not."""

from __future__ import annotations

import math
from functools import partial

import pyspiel
import pytest
import torch
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms import exploitability

from sparring.config import ConfigError, load_config
from sparring.training.algorithms.policy_gradient import TokenObjective
from sparring.training.learner import Learner, LearnerSample
from sparring.training.losses import policy_loss
from sparring.training.policy import build_policy
from sparring.training.regularisers import MovingMagnet, answer_kl, coefficient


def test_kl_to_a_magnet_equal_to_the_policy_is_zero():
    logps = torch.tensor([-0.3, -2.0, -1.1])
    assert float(answer_kl(logps, logps)) == pytest.approx(0.0, abs=1e-7)
    assert float(answer_kl(logps, logps + 5.0)) == pytest.approx(0.0, abs=1e-6)  # unnormalised alike


def test_kl_to_the_uniform_magnet_over_two_answers():
    policy = torch.tensor([0.8, 0.2])
    expected = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert float(answer_kl(policy.log())) == pytest.approx(expected, rel=1e-6)
    assert float(answer_kl(torch.tensor([-1.0, -1.0]))) == pytest.approx(0.0, abs=1e-7)


def test_magnet_kl_gradient_matches_the_hand_computation():
    z = torch.tensor([0.4, -1.2, 0.3], requires_grad=True)
    magnet = torch.tensor([-0.5, -0.5, -2.0])
    kl = answer_kl(z, magnet)
    kl.backward()
    pi, m = z.detach().softmax(0), magnet.softmax(0)
    # d KL / d z_i = pi_i * (log pi_i - log m_i - KL)
    expected = pi * (pi.log() - m.log() - float(kl.detach()))
    assert torch.allclose(z.grad, expected, atol=1e-6)


def test_entropy_bonus_gradient_is_minus_coef_over_the_aggregation_constant():
    entropy = torch.tensor([[1.0, 2.0, 0.5], [0.3, 0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    zeros = torch.zeros(2, 3)
    loss, _ = policy_loss(zeros, zeros, torch.zeros(2), mask, entropy=entropy, entropy_coef=0.1,
                          aggregation="constant", constant_length=4)
    loss.backward()
    assert loss.item() == pytest.approx(-0.1 * 3.8 / 8)
    assert torch.allclose(entropy.grad, -0.1 / 8 * mask)


@pytest.mark.parametrize("schedule, step, expected", [
    ("constant", 50, 0.2), ("linear", 1, 0.2), ("linear", 51, 0.1), ("linear", 500, 0.0),
    ("power", 1, 0.2), ("power", 4, 0.1),
])
def test_coefficient_schedules(schedule, step, expected):
    assert coefficient(0.2, schedule, step, anneal_steps=100, power=0.5) == pytest.approx(expected)


def rps_exploitability(x: torch.Tensor, y: torch.Tensor) -> float:
    """OpenSpiel's exploitability of (x, y) in matrix Rock-Paper-Scissors (turn-based form)."""
    game = pyspiel.convert_to_turn_based(pyspiel.load_game("matrix_rps"))
    policy = policy_lib.TabularPolicy(game)
    root = game.new_initial_state()
    policy.policy_for_key(root.information_state_string())[:] = x.detach().numpy()
    policy.policy_for_key(root.child(0).information_state_string())[:] = y.detach().numpy()
    return exploitability.exploitability(game, policy)


def gradient_self_play(magnet_coef: float, steps: int = 300, lr: float = 0.5) -> tuple[float, float]:
    """Simultaneous policy-gradient play on RPS from a skewed start; (start, final) exploitability."""
    payoff = torch.tensor(pyspiel.load_matrix_game("matrix_rps").row_utilities(), dtype=torch.float64)
    zx = torch.tensor([1.0, 0.0, -0.5], dtype=torch.float64, requires_grad=True)
    zy = torch.tensor([0.0, 0.8, 0.0], dtype=torch.float64, requires_grad=True)
    start = rps_exploitability(zx.softmax(0), zy.softmax(0))
    for _ in range(steps):
        x, y = zx.softmax(0), zy.softmax(0)
        loss_x = -(x @ payoff @ y.detach()) + magnet_coef * answer_kl(zx)
        loss_y = x.detach() @ payoff @ y + magnet_coef * answer_kl(zy)
        (gx,), (gy,) = torch.autograd.grad(loss_x, zx), torch.autograd.grad(loss_y, zy)
        with torch.no_grad():
            zx -= lr * gx
            zy -= lr * gy
    return start, rps_exploitability(zx.softmax(0), zy.softmax(0))


def test_the_uniform_magnet_converges_where_plain_gradient_play_spirals_out():
    start, plain = gradient_self_play(0.0)
    _, regularised = gradient_self_play(0.2)
    assert plain > start  # plain simultaneous gradient play moves away from the equilibrium
    assert regularised < 0.01  # the magnet's fixed point here is the uniform Nash equilibrium


def tiny_learner(tmp_path, *overrides):
    cfg = load_config(None, ["model.name=tiny", "model.lora_r=4", "trainer.micro_batch=4", "trainer.lr=0.01",
                             "algo.ppo_epochs=1", f"trainer.run_dir={tmp_path}", *overrides])
    torch.manual_seed(0)
    model, tokenizer = build_policy(cfg.model)
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False)
    learner.step = partial(learner.step, objective=TokenObjective(cfg.algo))
    return model, learner


def answered(advantage: float = 0.0) -> list[LearnerSample]:
    """Samples whose turns had two legal answers (token ids of 'pass}' and 'bet}'-like completions)."""
    return [LearnerSample([1, 2, 3 + k], [40, 41], [-1.0, -1.0], advantage, legal_answers=[[40, 41], [50, 41]])
            for k in range(4)]


def test_the_initial_magnet_is_the_policy_before_any_update(tmp_path):
    _, learner = tiny_learner(tmp_path, "algo.magnet=initial", "algo.magnet_coef=1.0")
    stats = learner.step(answered())
    assert stats["magnet_kl"] == pytest.approx(0.0, abs=1e-6)  # LoRA's B starts at 0: policy == base


def test_the_uniform_magnet_pulls_the_answer_distribution_toward_uniform(tmp_path):
    _, learner = tiny_learner(tmp_path, "algo.magnet=uniform", "algo.magnet_coef=1.0", "algo.loss=reinforce",
                              "trainer.lr=0.003")
    kls = [learner.step(answered())["magnet_kl"] for _ in range(6)]  # advantages 0: only the magnet pulls
    assert kls[0] > 0.1 and kls[-1] < 0.5 * kls[0]


def test_moving_magnets_follow_the_policy(tmp_path):
    model, learner = tiny_learner(tmp_path)
    ema = MovingMagnet("ema", model, decay=0.5)
    lagged = MovingMagnet("lagged", model, lag=2)
    start = {k: v.clone() for k, v in ema.weights.items()}
    states = []
    for advantage in (1.0, -1.0, 1.0):
        learner.step(answered(advantage))
        ema.update(model)
        lagged.update(model)
        states.append({k: v.clone() for k, v in lagged.history[-1].items()})
    key = next(k for k in start if "lora_B" in k)
    expected = 0.125 * start[key] + 0.125 * states[0][key] + 0.25 * states[1][key] + 0.5 * states[2][key]
    assert torch.allclose(ema.weights[key], expected, atol=1e-7)
    assert torch.equal(lagged.weights[key], states[0][key])  # two steps behind the policy
    restored = MovingMagnet("lagged", model, lag=2)
    restored.load_state_dict(lagged.state_dict())
    assert torch.equal(restored.weights[key], lagged.weights[key])


@pytest.mark.parametrize("overrides, message", [
    (["algo.magnet=uniform"], "algo.magnet and algo.magnet_coef go together"),
    (["algo.magnet_coef=0.1"], "algo.magnet and algo.magnet_coef go together"),
    (["algo.magnet=ema", "algo.magnet_coef=0.1", "model.lora=false"], "needs model.lora=true"),
    (["trainer.keep_best=true"], "set trainer.exploitability_every too"),
    (["trainer.average_decay=1.0"], "trainer.average_decay must be in"),
    (["trainer.average_decay=0.9", "model.lora=false"], "needs model.lora=true"),
    (["algo.magnet=uniform", "algo.magnet_coef=0.1", "games.template=spiral"],
     r"^algo.magnet=uniform .* games.template=spiral [^\n]*$"),
])
def test_inconsistent_regulariser_settings_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_the_learner_applies_the_magnet_kl_gradient_of_a_separate_answer_pass(tmp_path):
    """The answers ride in the completions' tree pass; the gradient equals KL over a pass of its own."""
    from sparring.logprobs import answer_logprobs

    model, learner = tiny_learner(tmp_path, "algo.magnet=uniform", "algo.magnet_coef=0.7", "algo.loss=reinforce",
                                  "trainer.max_grad_norm=1e9")
    batch = answered()  # advantage 0: the gradient is the magnet's alone
    params = [p for p in model.parameters() if p.requires_grad]
    logps = answer_logprobs(model, [s.prompt_ids for s in batch], [s.legal_answers for s in batch])
    (0.7 * torch.stack([answer_kl(lp) for lp in logps]).mean()).backward()
    expected = [p.grad.clone() for p in params]
    model.zero_grad(set_to_none=True)
    learner.step(batch)
    assert max(float((p.grad - e).abs().max()) for p, e in zip(params, expected)) < 1e-6
    assert max(float(e.abs().max()) for e in expected) > 1e-4  # the magnet really had a gradient


@pytest.mark.parametrize("overrides, expected", [
    (["trainer.lr_schedule=linear", "trainer.steps=4"], [0.01, 0.0075, 0.005, 0.0025]),
    (["trainer.lr_schedule=power", "trainer.lr_anneal_power=0.5"], [0.01, 0.01 / 2 ** 0.5, 0.01 / 3 ** 0.5, 0.005]),
    (["trainer.lr_schedule=linear", "trainer.steps=4", "trainer.warmup_steps=2"], [0.005, 0.0075, 0.005, 0.0025]),
])
def test_the_learning_rate_follows_its_schedule_over_learner_steps(tmp_path, overrides, expected):
    _, learner = tiny_learner(tmp_path, *overrides)
    applied = [learner.step(answered(1.0), step)["lr"] for step in range(1, 5)]
    assert applied == pytest.approx(expected)


def test_a_restored_learner_resumes_the_warmup_where_it_stopped(tmp_path):
    _, learner = tiny_learner(tmp_path, "trainer.warmup_steps=4")
    learner.step(answered(1.0), 1)
    _, restored = tiny_learner(tmp_path, "trainer.warmup_steps=4")
    restored.load_state_dict(learner.state_dict())
    assert restored.step(answered(1.0), 2)["lr"] == pytest.approx(0.005)  # second update: 2/4 of lr


def test_the_magnet_weighs_every_sample_alike_whatever_the_micro_batch(tmp_path):
    """Under token_mean a micro batch weighs by its tokens; the magnet KL is per sample, so one sample a
    micro batch and all of them in one must give the same gradient."""
    batch = [LearnerSample([1, 2, 3 + k], [40, 41, 42, 43][: 1 + k], [-1.0] * (1 + k), advantage,
                           legal_answers=[[40, 41], [50, 41]]) for k, advantage in enumerate((1.0, -1.0, 0.5, 0.0))]

    def gradient(micro_batch: int) -> list[torch.Tensor]:
        model, learner = tiny_learner(tmp_path, "algo.magnet=uniform", "algo.magnet_coef=0.7", "algo.loss=reinforce",
                                      "algo.aggregation=token_mean", "trainer.max_grad_norm=1e9", "trainer.lr=0",
                                      f"trainer.micro_batch={micro_batch}")
        learner.step(batch)
        return [p.grad for p in model.parameters() if p.requires_grad]

    whole, single = gradient(len(batch)), gradient(1)
    scale = max(float(w.abs().max()) for w in whole)
    assert scale > 1e-4
    assert max(float((s - w).abs().max()) for s, w in zip(single, whole)) < 1e-5 * scale  # float32 sums, chunked
