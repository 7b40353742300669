"""Preference self-play: the rule judge's matrix, the losses against hand computations, SPIN's known
value at the reference, the duality gap, the iterate, and the preference game in the trainer."""

import json
import math
import re
import sys
from functools import partial

import pytest
import torch
import yaml

from sparring.config import ConfigError, load_config
from sparring.errors import SparringError
from sparring.evaluation import preference_gap as gap_module
from sparring.evaluation.preference_gap import candidates, duality_gap
from sparring.games import make_game
from sparring.games.base import TRAINING_RULES
from sparring.games.preference import PreferenceGame, PreferenceMatch, Prompt
from sparring.games.reasoning import ReasoningGame
from sparring.judges.preference import TIE_BREAKS, RulePreferenceJudge, win_shares
from sparring.training.algorithms.preference import PreferenceObjective
from sparring.training.learner import Learner, LearnerSample
from sparring.training.losses import preference_loss, preference_terms
from sparring.training.metrics import read_metrics
from sparring.training.policy import build_policy
from sparring.training.trainer import train

from test_trainer import CONFIG, tiny_cfg

PREFERENCE = ("games.names=[preference]", "preference.tie_break=shorter", "algo.ppo_epochs=1", "trainer.micro_batch=8")


def played(game, seed, replies):
    return submitted(game.new_match(seed), replies)


def submitted(match, replies):
    for reply in replies:
        match.submit(reply)
    return match


def test_the_rule_judge_ranks_scripted_answers_exactly():
    game = make_game("preference")  # closer tie-break
    match = game.new_match(3)
    ref = match.reference
    assert ref == "3"
    done = played(game, 3, ["\\boxed{3}", "no answer at all", "\\boxed{7}", "\\boxed{ 3 }", "\\boxed{2}"][:4])
    assert done.is_over() and done.scores() == [1.0, 0.0, 0.0, 1.0]
    # right = right > 7 (4 away) > no answer
    assert done.verdict.labels["preference"] == [[0.5, 1.0, 1.0, 0.5], [0.0, 0.5, 0.0, 0.0],
                                                 [0.0, 1.0, 0.5, 0.0], [0.5, 1.0, 1.0, 0.5]]
    assert [r for _, r in done.scored_turns(0)] == pytest.approx([5 / 6, 0.0, 1 / 3, 5 / 6])
    assert done.returns() == [0.5]


@pytest.mark.parametrize("tie_break, expected", [
    ("none", [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]),
    ("shorter", [[0.5, 0.0, 0.5], [1.0, 0.5, 1.0], [0.5, 0.0, 0.5]]),
    ("closer", [[0.5, 0.0, 1.0], [1.0, 0.5, 1.0], [0.0, 0.0, 0.5]]),
])
def test_the_tie_break_decides_between_equally_scored_answers(tie_break, expected):
    judge = RulePreferenceJudge(tie_break)
    # three wrong answers to "5": 6 (one away, long reply), 4 (one away, short), 9 (four away, long)
    replies = ["the answer is \\boxed{6}", "\\boxed{4}", "the answer is \\boxed{9}"]
    matrix = judge.rank([0.0, 0.0, 0.0], ["6", "4", "9"], replies, "5")
    if tie_break == "closer":  # 6 and 4 are equally close: a tie
        expected = [[0.5, 0.5, 1.0], [0.5, 0.5, 1.0], [0.0, 0.0, 0.5]]
    assert matrix == expected
    assert all(matrix[i][j] + matrix[j][i] == 1.0 for i in range(3) for j in range(3))


@pytest.fixture(scope="module")
def judge_pair():
    """P(first reply > second reply) for a prompt with a chosen reference, each reply scored by basic_arithmetic's
    own scorer (which pays partial credit to any answer that contains the reference) and ranked by the rule judge."""
    task = ReasoningGame("basic_arithmetic")
    games = {tie: PreferenceGame(("basic_arithmetic",), samples=2, tie_break=tie) for tie in TIE_BREAKS}

    def judge(reference, first, second, tie_break="closer"):
        prompt = Prompt("What is the answer?", reference, lambda answer: task.score(answer, {"answer": reference}))
        match = submitted(PreferenceMatch(games[tie_break], 0, TRAINING_RULES, prompt), [first, second])
        return match.verdict.labels["preference"][0][1]

    return judge


HEDGE_OF_100K = "\\boxed{" + "57 " * 33_334 + "}"


@pytest.mark.parametrize("reference, first, second, first_wins", [
    ("57", r"\boxed{57}", r"\boxed{56}", 1.0),  # right beats wrong
    ("57", r"\boxed{9999}", r"\boxed{banana}", 1.0),  # a reply without an integer loses to every integer
    ("57", r"\boxed{56}", r"\boxed{58 57 59}", 1.0),  # a hedge holding the reference loses to a wrong answer
    ("57", r"\boxed{3}", r"\boxed{57 or 58}", 1.0),
    ("57", r"\boxed{banana}", r"\boxed{57 or 58}", 1.0),  # ... even to one answer that is no number
    ("57", "no answer at all", r"\boxed{57 or 58}", 0.5),  # a hedge is no answer
    ("57", r"\boxed{50}", r"\boxed{58}\boxed{57}", 1.0),  # two different answers, the right one last: no answer
    ("57", r"\boxed{banana}", r"\boxed{57}\boxed{58}", 1.0),
    ("57", r"\boxed{57}\boxed{57}", r"\boxed{57}", 0.5),  # the same answer twice is one answer
    ("64", r"\boxed{64.0}", r"\boxed{6464}", 1.0),  # 64.0 is right; 6464 only contains it
    ("64", r"\boxed{64.0}", r"\boxed{64}", 0.5),
    ("57", r"\boxed{057}", r"\boxed{57}", 0.5),
    ("57", r"\boxed{5.7e1}", r"\boxed{57}", 0.5),
    ("0", r"\boxed{-0}", r"\boxed{0}", 0.5),
    ("-57", "\\boxed{\u221257}", r"\boxed{-57}", 0.5),  # the Unicode minus sign
    ("1057", r"\boxed{1,057}", r"\boxed{1057}", 0.5),  # digit grouping, as reasoning-gym's number scorer reads it
    ("57", "\\boxed{\uff15\uff17}", r"\boxed{57}", 0.5),  # fullwidth digits
    ("57", "\\boxed{\u0665\u0667}", r"\boxed{57}", 0.5),  # Arabic-Indic digits
    ("57", "\\boxed{5\u200b7}", r"\boxed{56}", 1.0),  # a zero-width space inside the number
    ("57", r"\boxed{56}", r"\boxed{not 57}", 1.0),  # words around the reference: no integer
    ("57", r"\boxed{56}", r"\boxed{56.5}", 1.0),  # a number that is no integer is farthest
    ("57", r"\boxed{3}", r"\boxed{1e99999999999999999999}", 1.0),  # an exponent no decimal holds: no number
    ("57", r"\boxed{50}", "\\boxed{5\x007}", 1.0),  # NUL between the digits: two numbers, a hedge
    ("57", "\x00\\boxed{57}\x00", r"\boxed{56}", 1.0),  # NUL outside the answer changes nothing
    ("57", "x" * 100_000 + r"\boxed{57}", r"\boxed{56}", 1.0),  # 100k characters of reply
    ("57", r"\boxed{3}", HEDGE_OF_100K, 1.0),  # a 100k-character hedge
    ("57", r"\boxed{3}", "\\boxed{" + "7" * 100_000 + "}", 1.0),  # a 100k-digit number is far
])
def test_the_rule_judge_ranks_adversarial_replies_as_the_docs_say(judge_pair, reference, first, second, first_wins):
    assert judge_pair(reference, first, second) == first_wins
    assert judge_pair(reference, second, first) == 1.0 - first_wins


@pytest.mark.parametrize("tie_break", TIE_BREAKS)
def test_under_every_tie_break_a_hedge_loses_and_an_equal_number_is_right(judge_pair, tie_break):
    assert judge_pair("57", "the answer is \\boxed{3}", r"\boxed{57 or 58}", tie_break) == 1.0
    assert judge_pair("64", r"\boxed{64.0}", r"\boxed{6464}", tie_break) == 1.0
    assert judge_pair("64", r"\boxed{64.0}", r"\boxed{6}", tie_break) == 1.0  # right beats a shorter wrong reply


def test_spin_prefers_the_data_answer_to_every_sample():
    game = make_game("preference").for_run(load_config(CONFIG, ["games.names=[preference]", "preference.opponent=data",
                                                                "preference.samples=2", "algo.loss=dpo"]))
    match = played(game, 3, ["\\boxed{3}", "\\boxed{8}"])
    assert match.verdict.labels["preference"] == [[0.5, 1.0, 1.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
    assert match.data_reply() == "\\boxed{3}"
    assert win_shares(match.verdict.labels["preference"]) == [1.0, 0.25, 0.25]


def _hand_losses(kind, d, P, beta, tau=0.0, r=None):
    eta = 1 / beta
    n = len(d)
    if kind == "sppo":
        return sum((d[i] - eta * (sum(P[i]) / n - 0.5)) ** 2 for i in range(n))
    total = 0.0
    for i in range(n):
        for j in range(n):
            if P[i][j] != P[j][i]:  # every order of a pair that is no tie, weighted by P (Bernoulli labels)
                h = d[i] - d[j]
                if kind == "dpo":
                    total += P[i][j] * math.log(1 + math.exp(-beta * h))
                elif kind == "ipo":
                    total += P[i][j] * (h - eta / 2) ** 2
                else:
                    total += P[i][j] * (h - eta * tau * (r[i] - r[j]) - eta / 2) ** 2
    return total


RULE_MATRIX = [[0.5, 1.0, 1.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
MODEL_MATRIX = [[0.5, 0.8, 0.65], [0.2, 0.5, 0.5], [0.35, 0.5, 0.5]]  # a soft judge's, with one tie


@pytest.mark.parametrize("P", [RULE_MATRIX, MODEL_MATRIX], ids=["rule", "model"])
@pytest.mark.parametrize("kind", ["sppo", "dpo", "ipo", "inpo"])
def test_each_preference_loss_and_its_gradient_equal_a_hand_computation(kind, P):
    d0, r = [0.3, -0.2, 0.7], [0.1, -0.4, 0.25]
    beta, tau = 0.5, 0.2
    d = torch.tensor(d0, dtype=torch.float64, requires_grad=True)
    loss = preference_loss(kind, d, torch.tensor(P, dtype=torch.float64), beta=beta, tau=tau,
                           ref_logratio=torch.tensor(r, dtype=torch.float64))
    assert float(loss.detach()) == pytest.approx(_hand_losses(kind, d0, P, beta, tau, r), rel=1e-12)
    loss.backward()
    eps = 1e-6
    for k in range(3):  # central differences of the hand formula
        up, down = list(d0), list(d0)
        up[k] += eps
        down[k] -= eps
        numeric = (_hand_losses(kind, up, P, beta, tau, r) - _hand_losses(kind, down, P, beta, tau, r)) / (2 * eps)
        assert float(d.grad[k]) == pytest.approx(numeric, rel=1e-6, abs=1e-8)
    assert preference_terms(kind, torch.tensor(P)) == (3 if kind == "sppo" else 2)


@pytest.mark.parametrize("kind", ["dpo", "ipo", "inpo"])
def test_a_rule_matrix_gives_exactly_the_hard_label_pair_loss(kind):
    # one full term per ordered pair the rule prefers (P = 1), none for ties or for the losing order
    P = torch.tensor([[0.5, 1.0, 1.0, 0.5], [0.0, 0.5, 0.5, 0.0], [0.0, 0.5, 0.5, 1.0], [0.5, 1.0, 0.0, 0.5]])
    d = torch.tensor([0.3, -0.2, 0.7, -1.3])
    r = torch.tensor([0.1, -0.4, 0.25, 0.6])
    beta, tau = 0.5, 0.2
    winners, losers = torch.nonzero(P > 0.5, as_tuple=True)
    h = d[winners] - d[losers]
    hard = {"dpo": -torch.nn.functional.logsigmoid(beta * h), "ipo": (h - 1 / beta / 2) ** 2,
            "inpo": (h - tau / beta * (r[winners] - r[losers]) - 1 / beta / 2) ** 2}[kind].sum()
    assert torch.equal(preference_loss(kind, d, P, beta=beta, tau=tau, ref_logratio=r), hard)
    assert preference_terms(kind, P) == len(winners) == 4


def _pair_minimiser(kind, p, beta, tau, r):
    """Where theory puts the least loss of one pair judged P(y_0 > y_1) = p: h = logit(p) / beta (DPO's soft
    cross entropy), h = (p - 1/2) / beta (IPO with Bernoulli labels), shifted by the mixture term (INPO)."""
    if kind == "dpo":
        return math.log(p / (1 - p)) / beta
    return (p - 0.5) / beta + (tau / beta * (r[0] - r[1]) if kind == "inpo" else 0.0)


@pytest.mark.parametrize("p", [0.51, 0.7, 0.95])
@pytest.mark.parametrize("kind", ["dpo", "ipo", "inpo"])
def test_a_soft_preference_moves_the_pair_losses_minimiser_where_theory_says(kind, p):
    beta, tau, r = 0.5, 0.2, torch.tensor([0.3, -0.1], dtype=torch.float64)
    P = torch.tensor([[0.5, p], [1 - p, 0.5]], dtype=torch.float64)

    def loss_at(h):
        d = torch.tensor([h, 0.0], dtype=torch.float64, requires_grad=True)
        return preference_loss(kind, d, P, beta=beta, tau=tau, ref_logratio=r), d

    best = _pair_minimiser(kind, p, beta, tau, r.tolist())
    loss, d = loss_at(best)
    loss.backward()
    assert float(d.grad[0]) == pytest.approx(0.0, abs=1e-9)
    assert all(loss_at(best + step)[0].item() > loss.item() for step in (-0.05, 0.05))
    assert preference_terms(kind, P) == 1


@pytest.mark.parametrize("kind", ["dpo", "ipo", "inpo"])
def test_a_barely_preferred_pair_weighs_less_than_a_certain_one(kind):
    d = torch.tensor([0.0, 0.0], requires_grad=True)
    grads = []
    for p in (0.51, 1.0):
        d.grad = None
        preference_loss(kind, d, torch.tensor([[0.5, p], [1 - p, 0.5]]), beta=0.5).backward()
        grads.append(float(d.grad[0]))
    assert grads[0] < 0 and grads[1] < 0  # both push the preferred answer up
    assert abs(grads[0]) < 0.1 * abs(grads[1])


def test_inpo_without_the_reference_term_is_ipo():
    P = torch.tensor([[0.5, 0.0], [1.0, 0.5]])
    d = torch.tensor([0.4, -1.1])
    ipo = preference_loss("ipo", d, P, beta=0.1)
    assert float(preference_loss("inpo", d, P, beta=0.1, tau=0.0, ref_logratio=torch.tensor([3.0, -2.0]))) == float(ipo)
    assert float(ipo) == pytest.approx((-1.1 - 0.4 - 5.0) ** 2)


def group(rows, prompt=(1, 2, 3), completions=((5, 6), (7,), (5, 8, 9)), g=0):
    return [LearnerSample(list(prompt), list(c), [0.0] * len(c), 0.0, group=g, preference=tuple(row))
            for c, row in zip(completions, rows)]


def preference_learner(tmp_path, *overrides):
    cfg = tiny_cfg(tmp_path, *PREFERENCE, *overrides)
    torch.manual_seed(0)
    model, _ = build_policy(cfg.model)
    learner = Learner(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False)
    learner.step = partial(learner.step, objective=PreferenceObjective(cfg.algo))
    return model, learner


def test_a_policy_equal_to_its_reference_has_spins_known_loss_log_2(tmp_path):
    model, learner = preference_learner(tmp_path, "algo.loss=dpo", "algo.beta=0.1")
    # SPIN's group: the data's answer first, preferred to both samples; pi = pi_t (LoRA B = 0 at the start)
    rows = [[0.5, 1.0, 1.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    stats = learner.step(group(rows) + group(rows, prompt=(4, 5), g=1))
    assert stats["preference_terms"] == 4
    assert stats["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert stats["logratio_mean"] == pytest.approx(0.0, abs=1e-6)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters() if p.requires_grad)
    # after the update the data's answer gained against the samples under the policy, relative to pi_t
    second = learner.step(group(rows) + group(rows, prompt=(4, 5), g=1), step=2)
    assert second["loss"] < math.log(2)


def sequence_logps(model, samples) -> torch.Tensor:
    """Each sample's summed completion log-prob, one plain forward pass per sample."""
    from sparring.model import eval_mode

    totals = []
    with torch.no_grad(), eval_mode(model):
        for s in samples:
            logits = model(input_ids=torch.tensor([s.prompt_ids + s.completion_ids])).logits[0].float()
            picked = logits[len(s.prompt_ids) - 1:-1].log_softmax(-1).gather(-1, torch.tensor(s.completion_ids)[:, None])
            totals.append(picked.sum())
    return torch.stack(totals)


def test_inpos_reference_term_where_the_iterate_is_not_the_reference(tmp_path):
    """With the policy, the iterate pi_t and the reference three different policies, the learner's INPO loss is
    the hand computation from their sequence log-probs; its reference term is large enough that the same
    term with the opposite sign gives another loss."""
    from sparring.training.adapters import adapter_snapshot

    beta, tau = 0.5, 0.25
    model, learner = preference_learner(tmp_path, "algo.loss=inpo", f"algo.beta={beta}", f"algo.inpo_tau={tau}")
    samples = group([[0.5, 1.0, 1.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]])  # answer 0 preferred to 1 and to 2
    adapter = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(1)
    with torch.no_grad():
        for p in adapter:
            p.add_(0.3 * torch.randn_like(p))
    iterate = PreferenceObjective(learner.algo, adapter_snapshot(model))
    iterate_logps = sequence_logps(model, samples)
    with torch.no_grad():
        for p in adapter:
            p.add_(0.3 * torch.randn_like(p))
    logratio = sequence_logps(model, samples) - iterate_logps
    with model.disable_adapter():
        reference = sequence_logps(model, samples) - iterate_logps

    def loss(sign: float) -> float:
        terms = [(logratio[0] - logratio[j] - sign * tau / beta * (reference[0] - reference[j]) - 1 / beta / 2) ** 2
                 for j in (1, 2)]
        return float(sum(terms) / len(terms))

    assert abs(loss(1.0) - loss(-1.0)) > 0.05
    assert learner.step(samples, objective=iterate)["loss"] == pytest.approx(loss(1.0), rel=1e-4)


def test_sppo_at_the_reference_is_the_squared_target_of_each_answer(tmp_path):
    _, learner = preference_learner(tmp_path, "algo.loss=sppo", "algo.beta=2.0")
    rows = [[0.5, 1.0, 1.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
    stats = learner.step(group(rows))
    wins = [2.5 / 3, 1 / 3, 1 / 3]
    assert stats["loss"] == pytest.approx(sum((0.5 * (w - 0.5)) ** 2 for w in wins) / 3, rel=1e-5)


def test_a_group_row_that_does_not_match_its_group_is_an_error(tmp_path):
    _, learner = preference_learner(tmp_path, "algo.loss=dpo")
    with pytest.raises(ValueError, match="one entry per answer"):
        learner.step(group([[0.5, 1.0], [0.0, 0.5], [0.0, 0.5]]))


def test_the_duality_gap_is_zero_at_nash_and_exact_elsewhere():
    rps = torch.tensor([[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]])
    assert duality_gap(rps, torch.full((3,), 1 / 3, dtype=torch.float64)) == pytest.approx(0.0, abs=1e-12)
    assert duality_gap(rps, torch.tensor([1.0, 0.0, 0.0])) == pytest.approx(1.0)  # paper beats rock
    assert duality_gap(rps, torch.tensor([0.5, 0.5, 0.0])) == pytest.approx(0.5)  # paper: 1/2 * 1/2 + 1/2 * 1 = 3/4
    judge = RulePreferenceJudge("closer")
    options = candidates("10")
    assert options == ["10", "11", "9", "20", "0"]
    matrix = torch.tensor(judge.rank([float(o == "10") for o in options], options, options, "10"))
    assert duality_gap(matrix, torch.tensor([1.0, 0, 0, 0, 0])) == pytest.approx(0.0)
    # uniform: the reference beats 4 of 5 and ties itself: P(ref > p) = (0.5 + 4) / 5
    assert duality_gap(matrix, torch.full((5,), 0.2)) == pytest.approx(2 * 4.5 / 5 - 1)
    with pytest.raises(SparringError, match="integer answers"):
        candidates("olleh")


def test_the_preference_game_trains_logs_its_gap_and_refreshes_the_iterate(tmp_path):
    cfg = tiny_cfg(tmp_path, *PREFERENCE, "algo.loss=sppo", "algo.iterate_every=2", "preference.gap_every=1",
                   "preference.gap_items=3", "trainer.steps=3")
    metrics = read_metrics(train(cfg))
    assert [m["step"] for m in metrics if "preference_gap/mean" in m] == [1, 2, 3]
    assert all(0.0 <= m["preference_gap/mean"] <= 1.0 for m in metrics)
    assert all(m["preference_terms"] == m["samples"] for m in metrics)  # sppo: one term per answer
    assert metrics[0]["logratio_mean"] == pytest.approx(0.0, abs=1e-6)  # pi = pi_t before the first update
    from sparring.checkpoint import latest_checkpoint, load_trainer_state

    state = load_trainer_state(latest_checkpoint(tmp_path / "run"))
    assert state["algorithm"]["iterate"]["taken_at"] == 2


@pytest.fixture
def gap_texts(monkeypatch):
    """The prompt texts and candidate replies the duality gap scores, recorded as it tokenises them."""
    prompts, replies = [], []
    encode, reply_ids = gap_module.encode_prompts, gap_module.reply_ids

    def encoded(tokenizer, texts):
        prompts.extend(texts)
        return encode(tokenizer, texts)

    def reply(tokenizer, template, answer_format, text):
        replies.append(text)
        return reply_ids(tokenizer, template, answer_format, text)

    monkeypatch.setattr(gap_module, "encode_prompts", encoded)
    monkeypatch.setattr(gap_module, "reply_ids", reply)
    return prompts, replies


def assert_bracket_format(prompts, replies, items):
    assert len(prompts) == items and len(replies) == 5 * items
    assert all("Give your final answer as []." in p and "boxed" not in p for p in prompts)
    assert all(re.fullmatch(r"\[-?\d+\]", r) for r in replies)


def test_a_bracket_runs_duality_gap_is_scored_in_brackets(tmp_path, gap_texts):
    train(tiny_cfg(tmp_path, *PREFERENCE, "games.answer_format=bracket", "algo.loss=sppo", "preference.gap_every=1",
                   "preference.gap_items=2", "trainer.steps=1"))
    assert_bracket_format(*gap_texts, items=2)


def test_the_gap_script_scores_in_the_configs_answer_format(tmp_path, gap_texts, load_script, monkeypatch, capsys):
    config = yaml.safe_load(CONFIG.read_text())
    config["games"] = {**config["games"], "names": ["preference"], "answer_format": "bracket"}
    config["preference"] = {"gap_items": 2}
    path = tmp_path / "bracket.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(sys, "argv", ["preference_gap.py", str(path), "lm:tiny"])
    load_script("preference_gap").main()
    assert capsys.readouterr().out.startswith("lm:tiny: gap ")
    assert_bracket_format(*gap_texts, items=2)


def test_preference_settings_that_cannot_work_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="model.lora"):
        train(tiny_cfg(tmp_path, "games.names=[preference]", "algo.loss=dpo", "model.lora=false"))
    with pytest.raises(ConfigError, match="algo.loss=sppo"):
        tiny_cfg(tmp_path, "games.names=[preference]", "algo.loss=sppo", "model.adapters_per_role=true")
    with pytest.raises(ConfigError, match="inpo_tau"):
        train(tiny_cfg(tmp_path, "games.names=[preference]", "algo.loss=inpo", "algo.inpo_tau=0.5", "algo.beta=0.1"))
    with pytest.raises(SparringError, match="alone"):
        train(tiny_cfg(tmp_path, "games.names=[preference, tic_tac_toe]", "algo.loss=sppo"))
    with pytest.raises(SparringError, match="algo.loss=dpo"):
        train(tiny_cfg(tmp_path, "games.names=[preference]", "preference.opponent=data"))
    with pytest.raises(SparringError, match="integer answers"):
        train(tiny_cfg(tmp_path, "games.names=[preference]", "preference.tasks=[spell_backward]",
                       "preference.gap_every=1", "trainer.steps=1"))


def test_prompts_from_a_jsonl_file_and_a_bad_line_is_named(tmp_path):
    good = tmp_path / "prompts.jsonl"
    good.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "4"}) + "\n\n"
                    + json.dumps({"question": "Capital of France?", "answer": "Paris"}) + "\n")
    cfg = tiny_cfg(tmp_path, "games.names=[preference]", f"preference.prompts={good}", "preference.samples=2")
    game = make_game("preference", cfg)
    match = played(game, 1, ["\\boxed{ Paris }", "\\boxed{Lyon}"])
    assert match.question == "Capital of France?" and match.scores() == [1.0, 0.0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(SparringError, match="bad.jsonl:1"):
        make_game("preference", tiny_cfg(tmp_path, "games.names=[preference]", f"preference.prompts={bad}"))


def test_a_model_judge_gives_a_complementary_matrix_and_its_agreement_with_the_rule(tmp_path):
    cfg = tiny_cfg(tmp_path, "games.names=[preference]", "preference.judge=model:tiny", "preference.samples=3")
    game = make_game("preference", cfg)
    match = played(game, 3, ["\\boxed{3}", "\\boxed{9}", "no answer"])
    matrix = match.verdict.labels["preference"]
    assert all(matrix[i][i] == 0.5 for i in range(3))
    assert all(matrix[i][j] + matrix[j][i] == pytest.approx(1.0) and 0 < matrix[i][j] < 1
               for i in range(3) for j in range(3) if i != j)
    assert len({round(matrix[i][j], 6) for i in range(3) for j in range(3) if i != j}) > 1  # it reads the answers
    rule = match.verdict.labels["rule_preference"]
    assert rule == [[0.5, 1.0, 1.0], [0.0, 0.5, 1.0], [0.0, 0.0, 0.5]]
    agree, strict = match.verdict.labels["agreement"]
    assert strict == 3 and agree == sum(matrix[i][j] > 0.5 for i, j in ((0, 1), (0, 2), (1, 2)))
    metrics = game.step_metrics([match])
    assert metrics["preference/judge_rule_agreement"] == agree / 3
    with pytest.raises(SparringError, match="model:NAME"):
        make_game("preference", tiny_cfg(tmp_path, "games.names=[preference]", "preference.judge=pairwise"))
