"""ask_answer_verify (SPELL): hand-computed rewards for the three roles, the verifier scored against the rule,
the document-length curriculum, validity, a user corpus, a run."""

from __future__ import annotations

import json
import math

import pytest

from sparring.checkpoint import load_trainer_state
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.games import make_game, rules_texts
from sparring.games.ask_answer_verify import AskAnswerVerifyGame, rule_label, spell_metrics
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.algorithms.policy_gradient import turn_samples
from sparring.training.trainer import train

LM = {"prompt_ids": [1, 2], "completion_ids": [3], "logprobs": [-0.5]}  # what an LM turn carries
KUHN = ("Kuhn poker is played with three cards: Jack, Queen and King. Each player antes 1 chip. "
        "The game was described by Harold W. Kuhn in 1950.")
DICE = "Liar's dice is played with 5 dice per player, hidden under a cup."


def box(text: str) -> str:
    return "\\boxed{" + text + "}"


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(KUHN + "\n\n" + DICE + "\n")
    return str(folder)


def play(match, question: str, answers: list[str], verdicts: list[str], document: str = KUHN, **extra):
    match.document = document  # the scripted question is about this passage, whichever the seed drew
    match.submit(box(question), **extra)
    for text in answers + verdicts:
        match.submit(text, **extra)
    return match


def gaussian(p: float) -> float:
    return math.exp(-((p - 0.5) ** 2) / (2 * 0.2**2))


def test_rewards_by_hand_where_the_rule_decides(corpus):
    match = play(AskAnswerVerifyGame(attempts=3, corpus=corpus).new_match(0),
                 "Who described the game in 1950? | Harold W. Kuhn",
                 [box("harold w. kuhn"), box("Kuhn"), "no answer"],  # right, wrong, empty (wrong)
                 [box("yes"), box("yes"), box("maybe")])              # agrees, disagrees, no verdict (wrong)
    labels = match.verdict.labels
    assert labels["rule_labels"] == [True, False, False] and labels["verdicts"] == ["yes", "yes", ""]
    assert labels["responder_rewards"] == [1.0, 0.0, 0.0] and labels["verifier_rewards"] == [1.0, 0.0, 0.0]
    assert match.returns() == pytest.approx([gaussian(1 / 3), 1 / 3, 1 / 3])
    assert gaussian(1 / 3) == pytest.approx(0.70664, abs=1e-5)
    assert [r for _, r in match.scored_turns(1)] == [1.0, 0.0, 0.0]
    assert [r for _, r in match.scored_turns(2)] == [1.0, 0.0, 0.0]


def test_numbers_are_matched_numerically_and_long_answers_have_no_rule():
    assert rule_label("1.0", "1") is True and rule_label("one", "1") is False and rule_label("1,000", "1000") is True
    assert rule_label("the king", "King") is False and rule_label("KING!", "king") is True
    assert rule_label("anything", "Jack, Queen and King") is None  # four words: the verifier decides


def test_without_a_rule_the_verifier_decides_the_responder_and_is_not_trained(corpus):
    match = play(AskAnswerVerifyGame(attempts=2, corpus=corpus).new_match(0),
                 "Which cards are used in Kuhn poker? | Jack, Queen and King",
                 [box("Jack, Queen, King"), box("Ace")], [box("yes"), box("no")], **LM)
    assert match.verdict.labels["responder_rewards"] == [1.0, 0.0]
    assert match.verdict.labels["verifier_rewards"] == [None, None] and match.scored_turns(2) == []
    assert match.returns() == pytest.approx([1.0, 0.5, 0.0])  # p = 1/2: the questioner's best
    spec = MatchSpec(match.game, [None] * 3, 0, match.rules, {"learning_seats": [0, 1, 2], "group": 0})
    samples, _ = turn_samples([PlayedMatch(spec, match)])
    assert sorted(s.role for s in samples) == ["questioner", "responder", "responder"]


def test_an_always_yes_verifier_scores_the_base_rate_not_one(corpus):
    game = AskAnswerVerifyGame(attempts=4, corpus=corpus)
    matches = []
    for seed, answers in enumerate([["1", "1", "2", "3"], ["2", "2", "2", "1"], ["1", "x", "1", "1"]]):
        matches.append(play(game.new_match(seed), "How many chips does each player ante? | 1",
                            [box(a) for a in answers], [box("yes")] * 4))
    # right by rule: 2 + 1 + 3 of 12 answers
    metrics = spell_metrics(matches)
    assert metrics["verifier/base_rate"] == pytest.approx(6 / 12)
    assert metrics["verifier/accuracy"] == pytest.approx(6 / 12) and metrics["verifier/balanced_accuracy"] == 0.5
    assert metrics["verifier/yes_rate"] == 1.0 and metrics["verifier/labelled_share"] == 1.0
    assert metrics["responder/accuracy"] == pytest.approx(6 / 12)
    honest = play(game.new_match(9), "How many chips does each player ante? | 1",
                  [box("1"), box("2"), box("1"), box("0")], [box("yes"), box("no"), box("yes"), box("no")])
    assert spell_metrics([honest])["verifier/accuracy"] == 1.0


def test_the_curriculum_adds_a_passage_when_accuracy_rises_and_round_trips(corpus):
    game = AskAnswerVerifyGame(attempts=2, max_passages=2, promote_accuracy=0.6, promote_window=2, corpus=corpus)
    question = "How many dice does each player get? | 5"
    assert game.new_match(0).document in (KUHN, DICE)
    for seed in (0, 1):  # accuracy 0 over the window: no promotion
        play(game.new_match(seed), question, [box("4")] * 2, [box("no")] * 2, DICE)
    assert game.level == 1 and game.recent == []
    for seed in (2, 3):
        play(game.new_match(seed), question, [box("5")] * 2, [box("yes")] * 2, DICE)
    assert game.level == 2 and set(game.new_match(7).document.split("\n\n")) == {KUHN, DICE}
    restored = AskAnswerVerifyGame(corpus=corpus)
    restored.load_state_dict(json.loads(json.dumps(game.state_dict())))
    assert restored.level == 2 and "curriculum/passages" in game.step_metrics([])


@pytest.mark.parametrize("text", ["no box", box("How many chips? 1"), box("How many chips does each ante? | 7"),
                                  box("Chips? | 1"), box("How many chips does each player ante? | " + "1 " * 9),
                                  box("Who described it? | Kuhn") + box("Who? | Harold")])
def test_invalid_questions_are_format_losses(corpus, text):
    match = AskAnswerVerifyGame(corpus=corpus).new_match(1)
    match.document = KUHN
    match.submit(text)
    assert match.is_over() and match.returns() == [-1.5, 0.5, 0.5]
    assert "format loss" in match.record()["judge"]["reason"]


def test_the_built_in_corpus_and_bad_corpora(tmp_path):
    passages = make_game("ask_answer_verify").passages
    assert any(p.startswith("kuhn_poker: ") for p in passages) and any("Answer: " in p for p in passages)
    assert passages[:len(rules_texts())] == rules_texts()
    with pytest.raises(SparringError, match="make_game"):
        AskAnswerVerifyGame().passages
    with pytest.raises(SparringError, match="not a folder"):
        AskAnswerVerifyGame(corpus=str(tmp_path / "missing"))
    with pytest.raises(SparringError, match="no .txt file"):
        AskAnswerVerifyGame(corpus=str(tmp_path))


def test_run_settings_reach_the_game(corpus):
    cfg = load_config(None, ["judged.attempts=5", "judged.max_passages=3", f"judged.corpus={corpus}"])
    game = make_game("ask_answer_verify", cfg)
    assert (game.attempts, game.max_passages, game.corpus, game.level) == (5, 3, corpus, 1)
    with pytest.raises(SparringError, match="does not apply"):
        make_game("ask_answer_verify", load_config(None, ["judged.judge=model:tiny"]))


def test_a_tiny_run_logs_the_verifier_and_checkpoints_the_curriculum(tmp_path):
    cfg = load_config("configs/tiny_test.yaml", [f"trainer.run_dir={tmp_path / 'run'}", "games.names=[ask_answer_verify]",
                                                 "trainer.steps=1", "rollout.max_new_tokens=8", "judged.attempts=2"])
    run = train(cfg)
    records = [json.loads(line) for line in (run / "transcripts" / "step_000001.jsonl").read_text().splitlines()]
    finished = [r for r in records if r["returns"] is not None]
    assert finished and all(r["judge"]["returns"] == r["returns"] and r["document"] for r in finished)
    metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert metrics["curriculum/passages"] == 1.0 and "questioner/valid_rate" in metrics
    saved = load_trainer_state(run / "checkpoints" / "step_000001")["games"]["ask_answer_verify"]
    assert saved["level"] == 1


# --- the rule judge against a policy looking for its holes (issue 36, class 6) ---------------------------
RECORDS = "The record of 84.0 seconds was set in 1845. The club owed -12 dollars; 1,000 people and Nan came."
QUESTION = "What does the document say about it?"
G0, G1 = gaussian(0.0), gaussian(1.0)  # the questioner's reward when the responder is always wrong / right


@pytest.mark.parametrize("reference, valid", [
    ("84.0", True), ("-12", True), ("1,000", True), ("1845", True), ("Nan", True), ("84.0 seconds", True),
    ("84", False), ("-84", False), ("12", False), ("+12", False), ("1000", False), ("18", False), ("45", False),
    ("84.00", False), ("\uff18\uff14.0", False), ("8\u200b4.0", False), ("-1845", False),
], ids=["decimal", "negative", "thousands", "year", "name", "with-a-word", "decimal-dropped", "sign-added",
        "sign-dropped", "plus-sign", "commas-dropped", "inside-a-longer-number", "end-of-a-longer-number",
        "more-decimals", "fullwidth", "zero-width", "sign-on-a-year"])
def test_a_reference_is_in_the_document_only_as_written_there(corpus, reference, valid):
    match = AskAnswerVerifyGame(attempts=1, corpus=corpus).new_match(0)
    match.document = RECORDS
    match.submit(box(f"{QUESTION} | {reference}"))
    assert match.is_over() is not valid
    if not valid:
        assert match.returns() == [-1.5, 0.5, 0.5]


@pytest.mark.parametrize("answer, right", [
    (box("-12"), True), (box("-12.0"), True), (box("-12."), True), (box("-0012"), True),
    (box("12"), False), (box("+12"), False), (box("-12 or 12"), False), (box("-12") + box("12"), False),
    (box("-1_2"), False), (box("-1.2e1"), False), (box("nan"), False), (box("-12, -13"), False),
    ("\x00" + box("-12"), True), ("-12 " * 20_000, False),
], ids=["exact", "decimal-point", "full-stop", "leading-zeros", "sign-dropped", "plus-sign", "hedge", "two-answers",
        "underscore", "exponent", "nan", "list", "nul", "100k-chars-no-box"])
def test_a_numeric_reference_is_matched_by_one_number_written_with_digits(corpus, answer, right):
    match = play(AskAnswerVerifyGame(attempts=1, corpus=corpus).new_match(0), f"{QUESTION} | -12", [answer],
                 [box("yes")], document=RECORDS)
    assert match.verdict.labels["rule_labels"] == [right]
    assert match.returns() == pytest.approx([G1, 1.0, 1.0] if right else [G0, 0.0, 0.0])


def test_a_word_that_float_reads_as_a_number_is_matched_as_a_word(corpus):
    match = play(AskAnswerVerifyGame(attempts=2, corpus=corpus).new_match(0), f"{QUESTION} | Nan",
                 [box("NAN"), box("nan.")], [box("yes"), box("yes")], document=RECORDS)
    assert match.verdict.labels["rule_labels"] == [True, True]  # float("Nan") is NaN, which equals nothing
    assert match.returns() == pytest.approx([G1, 1.0, 1.0])


@pytest.mark.parametrize("verdict, agrees", [
    (box("yes"), True), (box("YES"), True), ("I think " + box("yes") + " " + box("yes"), True),
    (box("no"), False), ("yes", False), (box("yes") + box("no"), False), (box("yes."), False),
    (box("\uff59\uff45\uff53"), False), (box("y\u200bes"), False), ("\x00" * 100_000, False),
], ids=["yes", "capitals", "same-twice", "wrong", "no-box", "both", "full-stop", "fullwidth", "zero-width",
        "100k-nul"])
def test_a_verifier_is_paid_only_for_one_plain_verdict_that_agrees_with_the_rule(corpus, verdict, agrees):
    match = play(AskAnswerVerifyGame(attempts=1, corpus=corpus).new_match(0), f"{QUESTION} | -12", [box("-12")],
                 [verdict], document=RECORDS)
    # the rule decides the responder (right) whatever the verifier says; the verifier 1 only when it agrees
    assert match.returns() == pytest.approx([G1, 1.0, 1.0 if agrees else 0.0])
