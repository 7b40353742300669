"""Judge games: sneaky generator vs critic (SPC) on reasoning-gym arithmetic, with a rule judge."""

from __future__ import annotations

import json

import pytest

from sparring.games import make_game
from sparring.games.sneaky_critic import SneakyCriticGame, Step, critic_metrics, first_wrong_step, render, solution_steps


def box(text: str) -> str:
    return "\\boxed{" + text + "}"


@pytest.fixture(scope="module")
def game():
    return make_game("sneaky_critic")


def match_of(game, gold: bool):
    """The first match of the wanted kind (gold or sneaky), by seed."""
    return next(m for m in (game.new_match(seed) for seed in range(100)) if m.is_gold == gold)


def test_gold_steps_follow_python_evaluation_order_and_a_plant_carries_on():
    assert solution_steps("12 + 3 * 4") == [Step(3, "*", 4, 12), Step(12, "+", 12, 24)]
    assert solution_steps("5 - 33 - 65") == [Step(5, "-", 33, -28), Step(-28, "-", 65, -93)]
    planted = solution_steps("5 - 33 - 65", plant=(1, -20))
    assert planted == [Step(5, "-", 33, -20), Step(-20, "-", 65, -85)]
    assert first_wrong_step(render(planted)) == 1 and first_wrong_step(render(solution_steps("5 - 33 - 65"))) is None


def test_half_the_matches_show_the_critic_an_untouched_solution(game):
    kinds = [game.new_match(seed).is_gold for seed in range(400)]
    assert 0.4 < sum(kinds) / len(kinds) < 0.6
    gold = match_of(game, gold=True)
    assert gold.current_seat() == 1 and "Step 1:" in gold.prompt(1)


def test_the_critic_that_finds_the_plant_wins_and_one_that_misses_loses(game):
    caught = match_of(game, gold=False)
    caught.submit(box("2: 999"))
    assert caught.current_seat() == 1 and "= 999" in caught.prompt(1)
    caught.submit("The second step is off. " + box("2"))
    assert caught.returns() == [-1.0, 1.0]
    missed = match_of(game, gold=False)
    missed.submit(box("1: 1000"))
    missed.submit(box("correct"))
    assert missed.returns() == [1.0, -1.0]
    record = missed.record()
    assert record["judge"]["kind"] == "rule" and record["judge"]["first_error"] == 1
    assert "step 1 is the first wrong step" in record["judge"]["reason"]


def test_a_critic_that_always_cries_wrong_loses_every_gold_match(game):
    gold = [m for m in (game.new_match(seed) for seed in range(40)) if m.is_gold]
    for match in gold:
        match.submit(box("1"))
    assert gold and all(m.returns() == [0.0, -1.0] for m in gold)
    assert critic_metrics(gold)["critic/acc_correct"] == 0.0


@pytest.mark.parametrize("seat, text", [
    (0, "I would change something"),            # no answer
    (0, box("1: 5") + " or maybe " + box("2: 6")),  # two different answers
    (0, box("9: 5")),                           # no step 9
    (0, box("1: x")),                           # not a number
    (0, "x" * 10_000 + box("1: 5") + box("1: 6")),  # 10 KB and two answers
    (1, box("0")), (1, box("17")), (1, box("maybe")), (1, box("2") + box("correct")), (1, "y" * 10_000),
], ids=["no-answer", "two-answers", "step-out-of-range", "not-a-number", "10kb-two-answers",
        "step-0", "step-17", "no-verdict", "two-verdicts", "10kb-nothing"])
def test_bad_answers_are_format_losses_with_a_reason_never_exceptions(game, seat, text):
    match = match_of(game, gold=seat == 1)
    match.submit(text)
    expected = [-1.5, 0.5] if seat == 0 else [0.0, -1.5]  # the sneaky seat of a gold match never played: 0
    assert match.is_over() and match.returns() == expected
    assert "format loss" in match.record()["judge"]["reason"]


def test_an_unchanged_value_is_not_a_plant(game):
    match = match_of(game, gold=False)
    match.submit(box(f"1: {match.gold[0].result}"))
    assert match.is_over() and match.returns() == [-1.5, 0.5]


def test_metrics_score_the_critic_against_the_rule_labels(game):
    matches = []
    for seed in range(60):
        match = game.new_match(seed)
        if not match.is_gold:
            match.submit(box("1: 12345"))
        match.submit(box("correct"))  # right on gold, wrong on every plant
        matches.append(match)
    metrics = critic_metrics(matches)
    assert metrics["critic/acc_correct"] == 1.0 and metrics["critic/acc_erroneous"] == 0.0
    assert metrics["critic/f1"] == 0.0 and metrics["sneaky/win_rate"] == 1.0
    assert metrics["sneaky/valid_rate"] == 1.0 and metrics["critic/format_rate"] == 1.0
    gold_share = sum(m.is_gold for m in matches) / len(matches)
    assert metrics["critic/agreement_with_rule"] == pytest.approx(gold_share)


def test_an_independent_script_recomputes_the_logged_returns(game, tmp_path, load_script):
    recompute = load_script("recompute_judged_returns")
    records = []
    for seed in range(30):
        match = game.new_match(seed)
        if not match.is_gold:
            match.submit(box(["1: 777", "2: -4", "nonsense"][seed % 3]))
        if not match.is_over():
            match.submit(box(["1", "2", "correct", "step 3"][seed % 4]))
        records.append(json.dumps(match.record()))
    (tmp_path / "transcripts").mkdir()
    (tmp_path / "transcripts" / "step_000001.jsonl").write_text("\n".join(records) + "\n")
    (tmp_path / "config.yaml").write_text("games: {answer_format: boxed, invalid_penalty: -1.5, invalid_bonus: 0.5}\n")
    assert recompute.main(tmp_path) == 0
    outcomes = {tuple(json.loads(r)["returns"]) for r in records}
    assert {(-1.0, 1.0), (1.0, -1.0), (0.0, 1.0), (0.0, -1.0), (-1.5, 0.5), (0.5, -1.5), (0.0, -1.5)} <= outcomes


def test_settings_are_checked():
    with pytest.raises(Exception, match="tasks must be among"):
        SneakyCriticGame(tasks=("countdown",))
    with pytest.raises(Exception, match="gold_share"):
        SneakyCriticGame(gold_share=1.5)


def test_a_runs_gold_share_reaches_the_game_and_a_model_judge_is_refused():
    from sparring.config import load_config
    from sparring.errors import SparringError

    game = make_game("sneaky_critic", load_config(None, ["judged.gold_share=1.0"]))
    assert all(game.new_match(seed).is_gold for seed in range(20))
    with pytest.raises(SparringError, match="judged by its rule"):
        make_game("sneaky_critic", load_config(None, ["judged.judge=model:tiny"]))


def test_the_held_out_critic_score_is_one_for_a_perfect_critic_and_f1_zero_for_a_yes_man():
    from sparring.evaluation.critic_eval import evaluate_critic, format_critic_report
    from sparring.players.base import Action, Player

    class RuleCritic(Player):
        def __init__(self, always_correct: bool):
            self.always_correct = always_correct

        def act_batch(self, observations):
            answers = []
            for obs in observations:
                label = None if self.always_correct else first_wrong_step(obs.match.shown_text())
                answers.append(Action(box("correct" if label is None else str(label))))
            return answers

    perfect = evaluate_critic(RuleCritic(always_correct=False), items=40)
    assert perfect["critic/f1"] == 1.0 and perfect["critic/format_rate"] == 1.0
    assert 0 < perfect["erroneous"] < 40 and perfect["critic/acc_erroneous_interval"][1] == pytest.approx(1.0)
    yes_man = evaluate_critic(RuleCritic(always_correct=True), items=40)
    assert yes_man["critic/acc_correct"] == 1.0 and yes_man["critic/acc_erroneous"] == 0.0 and yes_man["critic/f1"] == 0.0
    assert "F1 0.0%" in format_critic_report(yes_man)


# --- the rule judge against a policy looking for its holes (issue 36) --------------------------------------
FORMAT_LOSS = [0.5, -1.5]  # the critic's invalid answer: it pays the penalty, the sneaky seat that played the bonus


@pytest.mark.parametrize("text, expected", [
    (box("2"), [-1.0, 1.0]), (box("Step 2"), [-1.0, 1.0]), (box("step 2."), [-1.0, 1.0]), (box("02"), [-1.0, 1.0]),
    (box("\uff12"), [-1.0, 1.0]), (box("2") + " so " + box("2"), [-1.0, 1.0]), (box(box("2")), [-1.0, 1.0]),
    ("\x00" * 8 + box("2"), [-1.0, 1.0]), ("x" * 100_000 + box("2"), [-1.0, 1.0]),
    (box("1"), [1.0, -1.0]), (box("correct"), [1.0, -1.0]), (box("No error"), [1.0, -1.0]),
    (box("2\u200b"), FORMAT_LOSS), (box("2 or 3"), FORMAT_LOSS), (box("2") + box("3"), FORMAT_LOSS),
    (box("-2"), FORMAT_LOSS), (box("2: 999"), FORMAT_LOSS), (box("correct."), FORMAT_LOSS),
    ("{" * 5_000 + box("2") + "}" * 5_000, [-1.0, 1.0]),
], ids=["plain", "step-word", "full-stop", "leading-zero", "fullwidth-digit", "same-answer-twice", "nested-box",
        "nul-bytes", "100k-chars", "wrong-step", "says-correct", "says-no-error", "zero-width", "hedge",
        "two-answers", "negative-step", "plant-format", "correct-with-full-stop", "nested-braces"])
def test_a_critic_is_paid_only_for_naming_the_first_wrong_step_in_one_answer(game, text, expected):
    match = match_of(game, gold=False)
    match.submit(box(f"2: {match.gold[1].result + 1000}"))
    match.submit(text)
    assert match.returns() == expected


@pytest.mark.parametrize("text, expected", [
    (box("correct"), [0.0, 1.0]), (box("CORRECT"), [0.0, 1.0]), (box("none"), [0.0, 1.0]), (box("1"), [0.0, -1.0]),
    (box("maybe"), [0.0, -1.5]), ("no answer at all", [0.0, -1.5]), (box("correct") + box("1"), [0.0, -1.5]),
], ids=["correct", "capitals", "none", "cries-wrong", "no-verdict", "no-answer", "two-answers"])
def test_in_a_gold_match_the_sneaky_seat_never_plays_and_gets_zero(game, text, expected):
    match = match_of(game, gold=True)
    match.submit(text)
    assert match.returns() == expected and not any(t.seat == 0 for t in match.turns)


@pytest.mark.parametrize("plant, valid", [
    ("2: {v}", True), ("step 2 = {v}", True), ("2: {fw}", True), ("2: +{v}", False), ("2: 99999999999999", False),
    ("2: 1e3", False), ("0: {v}", False), ("2: {gold:03d}", False), ("2: {v} or 3: {v}", False),
], ids=["plain", "step-word", "fullwidth-value", "plus-sign", "14-digits", "exponent", "step-0",
        "gold-with-leading-zeros", "two-plants"])
def test_a_plant_is_one_changed_step_written_as_an_integer(game, plant, valid):
    match = match_of(game, gold=False)
    gold = match.gold[1].result
    value = abs(gold) + 1000
    text = plant.format(v=value, gold=gold, fw="".join(chr(ord(c) + 0xFEE0) for c in str(value)))
    match.submit(box(text))
    if valid:
        assert match.current_seat() == 1 and f"= {value}" in match.shown_text()
        match.submit(box("2"))
        assert match.returns() == [-1.0, 1.0]
    else:
        assert match.is_over() and match.returns() == [-1.5, 0.5]


def test_a_uniform_critic_scores_the_chance_the_report_gives():
    """The report's chance scores are what a uniform guess among the legal answers earns: a random critic
    lands within its 95% intervals of them."""
    from sparring.evaluation.critic_eval import evaluate_critic, format_critic_report
    from sparring.players.fixed import RandomPlayer

    report = evaluate_critic(RandomPlayer(seed=3), items=600)
    for kind in ("acc_erroneous", "acc_correct"):
        low, high = report[f"critic/{kind}_interval"]
        assert low <= report[f"chance/{kind}"] <= high
    assert 0.2 < report["chance/f1"] < 0.4 and "a uniform guess among the legal answers" in format_critic_report(report)
