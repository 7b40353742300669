"""Exact action values and the self-play update that reads them (`algo.advantage: exact`, `algo.loss: all_actions`)."""

from __future__ import annotations

import json
import math

import numpy as np
import pyspiel
import pytest
import torch
from open_spiel.python import policy as policy_lib
from open_spiel.python.algorithms.expected_game_score import policy_value

from sparring.config import ConfigError, load_config
from sparring.errors import SparringError
from sparring.evaluation.action_values import action_values, decision_states
from sparring.games import make_game
from sparring.games.base import EVALUATION_RULES
from sparring.players.lm import LMPlayer
from sparring.training.exact import ExactAdvantages
from sparring.training.losses import all_actions_loss


def random_policy(engine: pyspiel.Game, seed: int) -> policy_lib.TabularPolicy:
    rng = np.random.default_rng(seed)
    tabular = policy_lib.TabularPolicy(engine)
    for row, legal in zip(tabular.action_probability_array, tabular.legal_actions_mask):
        weights = rng.random(len(row)) * legal
        row[:] = weights / weights.sum()
    return tabular


def test_kuhn_action_values_under_the_uniform_policy():
    """Worked by hand: holding the Jack, opening with a pass loses 1.25 on average (the opponent bets half the
    time, and then half the time we fold, -1, or call, -2); a bet loses 0.5 (+1 if it folds, -2 if it calls).
    Facing a bet, the King calls for +2 and the Queen breaks even against a uniform bettor."""
    engine = pyspiel.load_game("kuhn_poker")
    q = action_values(engine, policy_lib.UniformRandomPolicy(engine))
    assert len(q) == 12
    assert q["0"] == pytest.approx({0: -1.25, 1: -0.5})
    assert q["2b"] == pytest.approx({0: -1.0, 1: 2.0})
    assert q["1pb"] == pytest.approx({0: -1.0, 1: 0.0})


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
def test_the_first_decisions_values_add_up_to_the_games_value(game):
    """Each private card dealt to the first player, weighted by its chance, of sum_a pi(a|s) Q(s, a): the value
    OpenSpiel computes for the whole game under a random policy (one that reaches every state unevenly)."""
    engine = pyspiel.load_game(game)
    policy = random_policy(engine, seed=3)
    q = action_values(engine, policy)
    root = engine.new_initial_state()
    value = 0.0
    for card, chance in root.chance_outcomes():
        dealt = root.child(card)
        while dealt.is_chance_node():  # the second player's card: the first player's state does not see it
            dealt = dealt.child(dealt.chance_outcomes()[0][0])
        probs = policy.action_probabilities(dealt)
        value += chance * sum(p * q[dealt.information_state_string(0)][a] for a, p in probs.items())
    expected = policy_value(engine.new_initial_state(), [policy, policy])[0]
    assert value == pytest.approx(expected, abs=1e-9)
    assert abs(expected) > 1e-3  # a value that says something


@pytest.mark.parametrize("game", ["kuhn_poker", "leduc_poker"])
def test_action_values_weigh_each_history_by_the_other_seats_reach(game):
    """At every information state, the second player's and the first player's later ones included, Q under a
    random policy equals OpenSpiel's tree walk: there the histories of a state differ in how likely the other
    seat made them, so a plain mean over them, or one weighted by chance alone, gives other values."""
    from open_spiel.python.algorithms.action_value import TreeWalkCalculator

    engine = pyspiel.load_game(game)
    policy = random_policy(engine, seed=5)
    q = action_values(engine, policy)
    walk = TreeWalkCalculator(engine)
    walk.compute_all_states_action_values([policy, policy])
    assert set(q) == {key for _, key in walk.weighted_action_values}
    for (player, key), by_action in walk.weighted_action_values.items():
        expected = {a: value[player] / walk.info_state_prob[player, key] for a, value in by_action.items()}
        assert q[key] == pytest.approx(expected, abs=1e-9), key
    assert any(player == 1 for player, _ in walk.weighted_action_values)


def test_decision_states_replay_a_history():
    engine = pyspiel.load_game("kuhn_poker")
    decisions = decision_states(engine, [2, 0, 0, 1, 1])  # King and Jack dealt; pass, bet, call
    assert [(seat, key) for seat, key, _ in decisions] == [(0, "2"), (1, "0p"), (0, "2pb")]
    assert decisions[2][2].legal_actions() == [0, 1]


def all_actions_logits():
    torch.manual_seed(0)
    return [torch.randn(3, requires_grad=True), torch.randn(2, requires_grad=True)]


def test_all_actions_gradient_is_the_expected_sampled_policy_gradient():
    advantages = [[0.5, -1.0, 2.0], [-0.25, 0.75]]
    logits = all_actions_logits()
    loss = all_actions_loss(logits, advantages)
    loss.backward()
    reference = all_actions_logits()
    for lp, adv in zip(reference, advantages):
        pi = torch.softmax(lp, 0).detach()
        for a, value in enumerate(adv):  # E_a[-A(a) grad log pi(a)]
            (-pi[a] * value * torch.log_softmax(lp, 0)[a]).backward()
    for got, want in zip(logits, reference):
        assert torch.allclose(got.grad, want.grad, atol=1e-6)
    value = sum(-(torch.softmax(lp, 0) * torch.tensor(adv)).sum() for lp, adv in zip(reference, advantages))
    assert float(loss.detach()) == pytest.approx(float(value.detach()))


def test_exact_advantages_of_a_kuhn_match_are_centred_on_the_policy(tiny):
    """Every decision's advantages weigh to 0 under the policy that played, and equal Q - V of the table."""
    player = LMPlayer(*tiny, moves="legal")
    exact = ExactAdvantages(player, ["kuhn_poker"], EVALUATION_RULES)
    policy, q = exact.tables["kuhn_poker"]
    match = make_game("kuhn_poker").new_match(5, EVALUATION_RULES)
    for move in ("pass", "bet", "call"):
        match.state.apply_action({"pass": 0, "bet": 1, "call": 1}[move])
    advantages = exact.seat_advantages(match, 0)
    assert len(advantages) == 2 and len(exact.seat_advantages(match, 1)) == 1
    for (seat, key, _), adv in zip([d for d in decision_states(policy.game, match.state.history()) if d[0] == 0],
                                   advantages):
        probs = policy.cache[key]
        assert sum(probs[a] * adv[name] for a, name in enumerate(("pass", "bet"))) == pytest.approx(0, abs=1e-9)
        assert adv["bet"] - adv["pass"] == pytest.approx(q[key][1] - q[key][0])
    metrics = exact.metrics()
    assert 0 < metrics["played_exploitability/kuhn_poker"] < 2  # the tiny model's policy, exactly
    assert metrics["deviation_gain/kuhn_poker"] > 0


@pytest.mark.parametrize("loss", [["algo.loss=all_actions"],
                                  ["algo.loss=mmd", "algo.magnet=uniform", "algo.magnet_coef=0.01"]],
                         ids=["all_actions", "mmd"])
def test_one_exact_update_at_a_state_raises_its_best_moves_probability(loss):
    """The Kuhn state whose moves differ most in value, alone in a batch: one optimiser update moves the
    played policy there toward the move with the larger advantage (with a weak magnet, under mmd)."""
    from sparring.logprobs import answer_logprobs
    from sparring.model import eval_mode
    from sparring.training.policy import build_policy
    from sparring.training.algorithms.exact import StateObjective
    from sparring.training.trainer import build_learner

    cfg = load_config(None, ["model.name=tiny", "games.names=[kuhn_poker]", "rollout.moves=legal",
                             "algo.advantage=exact", "algo.exact_states=all", "algo.ppo_epochs=1",
                             "trainer.lr=0.01", *loss])
    torch.manual_seed(0)
    model, tokenizer = build_policy(cfg.model)
    exact = ExactAdvantages(LMPlayer(model, tokenizer, moves="legal"), ["kuhn_poker"], EVALUATION_RULES, keep=True)
    sample = max(exact.state_samples(), key=lambda s: max(s.answer_advantages) - min(s.answer_advantages))
    best = sample.answer_advantages.index(max(sample.answer_advantages))

    def best_probability() -> float:
        with torch.no_grad(), eval_mode(model):
            [logps] = answer_logprobs(model, [sample.prompt_ids], [sample.legal_answers])
        return float(torch.softmax(logps, 0)[best])

    before = best_probability()
    assert before == pytest.approx(sample.answer_probs[best], abs=1e-5)  # the table scored this very policy
    build_learner(cfg, model, []).step([sample], objective=StateObjective(cfg.algo))
    assert best_probability() > before + 1e-3


def test_exact_advantages_need_a_game_small_enough_to_walk(tiny):
    with pytest.raises(SparringError, match="supports kuhn_poker, leduc_poker, not tic_tac_toe"):
        ExactAdvantages(LMPlayer(*tiny, moves="legal"), ["tic_tac_toe"], EVALUATION_RULES)


@pytest.mark.parametrize("overrides, words", [
    (["algo.advantage=exact"], "rollout.moves=legal"),
    (["algo.advantage=exact", "rollout.moves=legal", "rollout.opponent=random"], "rollout.opponent=self"),
    (["algo.loss=all_actions", "rollout.moves=legal"], "needs algo.advantage=exact"),
    (["algo.loss=all_actions", "algo.advantage=exact", "rollout.moves=legal", "algo.entropy_coef=0.1"], "entropy_coef"),
])
def test_config_errors_name_the_setting(overrides, words):
    from sparring.training.trainer import check_games

    with pytest.raises(ConfigError, match=words):
        check_games(load_config(None, overrides), {})


def test_an_exact_all_actions_run_logs_the_played_policys_exploitability_and_learns(tmp_path):
    import json

    from sparring.training.trainer import train

    cfg = load_config(None, ["model.name=tiny", "games.names=[kuhn_poker]", "rollout.moves=legal",
                             "rollout.turns_per_step=16", "rollout.concurrency=8", "trainer.steps=2",
                             "algo.advantage=exact", "algo.loss=all_actions", "algo.magnet=uniform",
                             "algo.magnet_coef=0.1", "trainer.lr=0.01", f"trainer.run_dir={tmp_path}/run"])
    train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    first, second = (row["played_exploitability/kuhn_poker"] for row in rows)
    assert first != second  # the update moved the policy the second step played
    assert all(math.isfinite(row["grad_norm"]) and row["grad_norm"] > 0 and row["time/action_values"] > 0 for row in rows)


def test_adam_beta1_reaches_the_optimiser_and_is_checked(tmp_path):
    from sparring.training.learner import Learner
    from sparring.training.policy import build_policy

    cfg = load_config(None, ["model.name=tiny", "model.lora_r=4", "trainer.adam_beta1=0", f"trainer.run_dir={tmp_path}"])
    model, _ = build_policy(cfg.model)
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False)
    assert learner.optimizer.param_groups[0]["betas"] == (0.0, 0.999)
    with pytest.raises(ConfigError, match="adam_beta1"):
        load_config(None, ["trainer.adam_beta1=1"])


def test_full_width_samples_cover_every_kuhn_state_once_with_centred_advantages(tiny):
    """algo.exact_states=all: one sample per information state (Kuhn's 12 read as 12 prompts), its legal
    answers those the learner scores, its answer advantages Q - V of the table, weighing to 0 under the policy."""
    from sparring.games.templates import answer_ids

    player = LMPlayer(*tiny, moves="legal")
    exact = ExactAdvantages(player, ["kuhn_poker"], EVALUATION_RULES, keep=True)
    policy, q = exact.tables["kuhn_poker"]
    samples = exact.state_samples()
    assert len(samples) == 12 and len({tuple(s.prompt_ids) for s in samples}) == 12
    by_prompt = {}
    for state in policy.information_states():
        obs = exact_observation(policy, state)
        by_prompt[tuple(player_prompt(player, obs))] = (policy.state_key(state), obs)
    for s in samples:
        key, obs = by_prompt[tuple(s.prompt_ids)]
        assert s.legal_answers == [answer_ids(player.tokenizer, "short", obs.answer_format, m, obs.legal_moves)
                                   for m in obs.legal_moves]
        probs = [policy.cache[key][a] for a in (0, 1)]
        assert sum(p * a for p, a in zip(probs, s.answer_advantages)) == pytest.approx(0, abs=1e-9)
        assert s.answer_advantages[1] - s.answer_advantages[0] == pytest.approx(q[key][1] - q[key][0])
        assert s.completion_ids == s.legal_answers[0]


def test_leduc_states_that_read_as_one_prompt_learn_from_the_mean_of_their_advantages(tiny):
    """Leduc's prompts name a card's rank, not its suit: its 936 reached information states read as 288
    prompts, one sample each. A sample's advantages are the mean over its states of Q - V, so raising the Q
    of calling at one of the two states behind a first decision holding a Jack moves that one sample's
    advantages by half of what it moves at that state, and no other sample's."""
    exact = ExactAdvantages(LMPlayer(*tiny, moves="legal"), ["leduc_poker"], EVALUATION_RULES, keep=True)
    policy, values = exact.tables["leduc_poker"]
    before = exact.state_samples()
    assert len(values) == 936 and len(before) == 288
    second_jack = "[Observer: 0][Private: 1][Round 1][Player: 0][Pot: 2][Money: 99 99][Round1: ][Round2: ]"
    values[second_jack][1] += 1.0  # call (its moves: call, raise)
    after = exact.state_samples()
    moved = [(b.answer_advantages, a.answer_advantages) for b, a in zip(before, after)
             if b.answer_advantages != a.answer_advantages]
    assert len(moved) == 1
    [(old, new)] = moved
    call = policy.cache[second_jack][1]
    assert [n - o for o, n in zip(old, new)] == pytest.approx([(1 - call) / 2, -call / 2], abs=1e-12)


def exact_observation(policy, state):
    from sparring.evaluation.exploitability import match_at_state

    return match_at_state(policy.language_game, state, EVALUATION_RULES).observe()


def player_prompt(player, obs):
    from sparring.players.lm import encode_prompts

    return encode_prompts(player.tokenizer, [player.render(obs)])[0]


def test_mmd_loss_is_least_at_the_mirror_descent_step():
    """The closed-form step of magnetic mirror descent (uniform magnet) from pi_old: the loss's gradient vanishes
    there and nowhere else along the way from pi_old to it."""
    from sparring.training.losses import mmd_loss

    old, adv, step, coef = [0.2, 0.5, 0.3], [1.0, -0.5, 0.25], 0.3, 0.8
    target = torch.softmax((torch.tensor(old).log() + step * torch.tensor(adv)) / (1 + step * coef), 0)
    at_target = target.log().clone().requires_grad_(True)
    mmd_loss([at_target], [old], [adv], step, coef).backward()
    assert float(at_target.grad.abs().max()) < 1e-6
    at_old = torch.tensor(old).log().requires_grad_(True)
    loss = mmd_loss([at_old], [old], [adv], step, coef)
    loss.backward()
    assert float(loss.detach()) > 1e-4 and float(at_old.grad.abs().max()) > 1e-3
    assert torch.allclose(at_old.grad, torch.tensor(old) - target, atol=1e-6)  # softmax - target


def test_an_mmd_full_width_run_moves_the_policy(tmp_path):
    import json

    from sparring.training.trainer import train

    cfg = load_config(None, ["model.name=tiny", "games.names=[kuhn_poker]", "rollout.moves=legal",
                             "rollout.turns_per_step=4", "rollout.concurrency=4", "trainer.steps=2",
                             "algo.advantage=exact", "algo.loss=mmd", "algo.exact_states=all", "algo.magnet=uniform",
                             "algo.magnet_coef=0.5", "trainer.lr=0.001", "algo.ppo_epochs=3", "algo.minibatches=2",
                             f"trainer.run_dir={tmp_path}/run"])
    train(cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["samples"] for row in rows] == [12, 12]  # Kuhn's 12 information states, whatever was played
    assert rows[0]["played_exploitability/kuhn_poker"] != rows[1]["played_exploitability/kuhn_poker"]
    # six updates toward the first step's target bring the policy closer to it (at lr 0.01 they overshoot)
    assert 0 <= rows[0]["last_epoch_loss"] < rows[0]["first_epoch_loss"] / 1.5


def test_the_tabular_reference_starts_only_from_a_language_model(monkeypatch, capsys, load_script):
    import sys

    script = load_script("tabular_mmd")
    monkeypatch.setattr(sys, "argv", ["tabular_mmd.py", "kuhn_poker", "--steps", "1", "--start", "random"])
    with pytest.raises(SystemExit, match="tabular_mmd: likelihood mode needs a language-model player"):
        script.main()
    monkeypatch.setattr(sys, "argv", ["tabular_mmd.py", "kuhn_poker", "--steps", "1", "--eta", "0.3"])
    script.main()  # from uniform: one step of the table's update moves Kuhn below uniform's 0.458
    line = capsys.readouterr().out.strip()
    assert line.startswith("eta 0.3: step 1: ") and float(line.split()[4]) < 0.458


def test_plot_metric_joins_played_and_evaluated_exploitability_by_updates_made(tmp_path):
    """At step s `played_exploitability` measures the policy after s - 1 updates and `exploitability`
    the one after s; `--updates` puts both on one line over the updates made."""
    import subprocess
    import sys
    from pathlib import Path

    run = tmp_path / "seed0"
    run.mkdir()
    rows = [{"step": 1, "played_exploitability/leduc_poker": 3.0}, {"step": 2, "played_exploitability/leduc_poker": 2.0},
            {"step": 2, "exploitability/leduc_poker": 1.5}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    script = Path(__file__).resolve().parents[1] / "scripts" / "plot_metric.py"
    keys = ["--key", "played_exploitability/leduc_poker", "exploitability/leduc_poker"]
    out = subprocess.run([sys.executable, script, run, "--updates", *keys, "--out", tmp_path / "x.png"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "seed0: 0:3.000, 1:2.000, 2:1.500" and (tmp_path / "x.png").stat().st_size > 0
    out = subprocess.run([sys.executable, script, run, *keys, "--out", tmp_path / "y.png"],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[:2] == ["seed0 played_exploitability/leduc_poker: 1:3.000, 2:2.000",
                                    "seed0 exploitability/leduc_poker: 2:1.500"]
    failed = subprocess.run([sys.executable, script, run, "--key", "loss", "--out", tmp_path / "z.png"],
                            capture_output=True, text=True)
    assert failed.returncode != 0 and failed.stderr.strip() == f"plot_metric: {run} has none of ['loss'] in metrics.jsonl"
