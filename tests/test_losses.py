import math

import pytest
import torch

from sparring.training.losses import policy_loss, token_logprobs


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_on_policy_ratio_is_one_and_aggregations():
    logp = t([[-1.0, -2.0, 5.0], [-0.5, -0.1, -3.0]])  # 5.0 is padding
    old = logp.clone()
    old[0, 2] = 0.0  # padding may differ: must not leak into loss or stats
    mask = t([[1, 1, 0], [1, 1, 1]])
    adv = t([1.0, -2.0])
    # per-token loss -A * 1: two tokens at -1, three at +2 -> sum 4
    loss, stats = policy_loss(logp, old, adv, mask, constant_length=4)
    assert loss.item() == pytest.approx(4 / (2 * 4))
    assert stats["ratio_mean"] == pytest.approx(1.0)
    assert stats["clip_fraction"] == 0.0
    assert stats["kl"] == 0.0
    loss, _ = policy_loss(logp, old, adv, mask, aggregation="token_mean")
    assert loss.item() == pytest.approx(4 / 5)


def test_ppo_clip_hand_example():
    old = t([[0.0], [0.0], [0.0]])
    logp = t([[math.log(1.5)], [math.log(0.5)], [math.log(1.5)]]).requires_grad_()
    adv = t([1.0, -1.0, -1.0])
    loss, stats = policy_loss(logp, old, adv, torch.ones(3, 1), aggregation="token_mean")
    # row 0: min(1.5, 1.2) * 1 -> loss -1.2 (clipped)
    # row 1: A<0, ratio 0.5 -> max(0.5, 0.8) = 0.8 (clipped)
    # row 2: A<0, ratio 1.5 -> max(1.5, 1.2) = 1.5 (not clipped)
    assert loss.item() == pytest.approx((-1.2 + 0.8 + 1.5) / 3)
    assert stats["clip_fraction"] == pytest.approx(2 / 3)
    loss.backward()
    assert logp.grad[:2].abs().max().item() == 0.0
    assert logp.grad[2, 0].item() == pytest.approx(1.5 / 3)


def test_dual_clip_caps_negative_advantage_loss_only():
    old = torch.zeros(3, 1)
    logp = t([[math.log(5.0)], [math.log(2.0)], [math.log(5.0)]]).requires_grad_()
    adv = t([-1.0, -1.0, 1.0])
    mask = torch.ones(3, 1)
    plain, _ = policy_loss(logp, old, adv, mask, aggregation="token_mean")
    assert plain.item() == pytest.approx((5.0 + 2.0 - 1.2) / 3)
    loss, stats = policy_loss(logp, old, adv, mask, dual_clip=3.0, aggregation="token_mean")
    assert loss.item() == pytest.approx((3.0 + 2.0 - 1.2) / 3)
    assert stats["dual_clip_fraction"] == pytest.approx(1 / 3)
    loss.backward()
    assert logp.grad[0, 0].item() == 0.0
    assert logp.grad[1, 0].item() == pytest.approx(2.0 / 3)
    with pytest.raises(ValueError):
        policy_loss(logp, old, adv, mask, dual_clip=1.0)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_reinforce_step_moves_logprob_with_advantage_sign(sign):
    weights = torch.zeros(1, 1, 3, requires_grad=True)
    target = torch.tensor([[1]])
    before = token_logprobs(weights, target)
    # old_logprobs far away: REINFORCE ignores the importance ratio
    loss, _ = policy_loss(
        before, before.detach() + 3.0, t([sign]), torch.ones(1, 1),
        kind="reinforce", aggregation="token_mean",
    )
    assert loss.item() == pytest.approx(-sign * math.log(1 / 3))
    loss.backward()
    with torch.no_grad():  # one plain SGD step, lr 0.5
        weights -= 0.5 * weights.grad
    after = token_logprobs(weights, target).item()
    assert (after - before.item()) * sign > 0


def test_k3_kl_zero_at_reference_positive_elsewhere():
    logp = t([[-1.0, -2.0]])
    mask = torch.ones(1, 2)
    adv = t([0.5])
    base, _ = policy_loss(logp, logp, adv, mask, aggregation="token_mean")
    same, stats = policy_loss(
        logp, logp, adv, mask, ref_logprobs=logp.clone(), kl_coef=0.5, aggregation="token_mean"
    )
    assert stats["kl"] == 0.0
    assert same.item() == pytest.approx(base.item())
    ref = logp + t([[1.0, -1.0]])
    loss, stats = policy_loss(
        logp, logp, adv, mask, ref_logprobs=ref, kl_coef=0.5, aggregation="token_mean"
    )
    k3 = ((math.e - 2.0) + math.exp(-1.0)) / 2  # delta = +1 and -1
    assert stats["kl"] == pytest.approx(k3)
    assert stats["kl"] > 0
    assert loss.item() == pytest.approx(base.item() + 0.5 * k3)


def test_rejects_unknown_kind_and_aggregation():
    x = torch.zeros(1, 1)
    with pytest.raises(ValueError):
        policy_loss(x, x, torch.zeros(1), x, kind="a2c")
    with pytest.raises(ValueError):
        policy_loss(x, x, torch.zeros(1), x, aggregation="seq_mean")


def test_token_logprobs_hand_value_and_matches_log_softmax():
    logits = t([[[0.0, math.log(3.0)]]]).to(torch.bfloat16)
    out = token_logprobs(logits, torch.tensor([[1]]))
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(math.log(0.75), abs=1e-2)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 7, generator=gen)
    targets = torch.randint(0, 7, (2, 4), generator=gen)
    expected = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, targets), expected, atol=1e-6)


def test_truncated_importance_weights_cap_and_count():
    from sparring.training.learner import truncated_is_weights

    learner = torch.tensor([[-1.0, -2.0, -0.5]])
    sampler = torch.tensor([[-2.0, -2.0, -0.25]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    weights, capped = truncated_is_weights(learner, sampler, mask, cap=2.0)
    assert torch.allclose(weights, torch.tensor([[2.0, 1.0, math.exp(-0.25)]]))
    assert capped == 1.0  # e^1 > 2 on a real token; the padded token is not counted
    assert truncated_is_weights(learner, sampler, mask, cap=0.0) == (None, 0.0)


def test_token_weights_scale_each_tokens_policy_gradient():
    logp = torch.tensor([[-1.0, -0.5]], requires_grad=True)
    args = dict(mask=torch.ones(1, 2), kind="reinforce", aggregation="token_mean")
    loss, _ = policy_loss(logp, logp.detach(), torch.tensor([2.0]), token_weights=torch.tensor([[0.5, 1.5]]), **args)
    loss.backward()
    assert torch.allclose(logp.grad, torch.tensor([[-2.0 * 0.5 / 2, -2.0 * 1.5 / 2]]))
