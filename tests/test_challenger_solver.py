"""challenger_solver (R-Zero): hand-computed rewards, the learnable band, the duplicate penalty, validity, a run."""

from __future__ import annotations

import json

import pytest

from sparring.checkpoint import load_trainer_state
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.games import make_game
from sparring.games.challenger_solver import ChallengerSolverGame, QuestionBuffer, challenger_reward, majority, similarity
from sparring.judges.text_forms import letters_and_digits
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.algorithms.policy_gradient import turn_samples
from sparring.training.trainer import train

LM = {"prompt_ids": [1, 2], "completion_ids": [3], "logprobs": [-0.5]}  # what an LM turn carries


def box(text: str) -> str:
    return "\\boxed{" + text + "}"


def play(match, question: str, answers: list[str], **extra):
    match.submit(box(question), **extra)
    for answer in answers:
        match.submit(answer, **extra)
    return match


def test_rewards_by_hand():
    game = ChallengerSolverGame(attempts=5)
    # 3 of 5 say "12" (p = 0.6, learnable): challenger 1 - 2|0.6 - 0.5| = 0.8; the attempts agreeing with "12" get 1.
    match = play(game.new_match(0), "How many legs do 3 cats have?",
                 [box("12"), box(" 12 "), box("7"), "no answer", box("12")])
    assert match.verdict.labels["label"] == "12" and match.verdict.labels["p"] == pytest.approx(0.6)
    assert match.returns() == pytest.approx([0.8, 0.6])
    assert [r for _, r in match.scored_turns(1)] == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert "3 of 5" in match.record()["judge"]["reason"] and match.record()["turns"][4]["move"] == ""


@pytest.mark.parametrize("answers, p, challenger, learnable", [
    (["4"] * 5, 1.0, 0.0, False),                     # everyone agrees: too easy, nothing to learn
    (["1", "2", "3", "4", "5"], 0.2, 0.4, False),     # a first-seen tie of one vote each: p = 0.2 < 0.3
    (["1", "1", "2", "3", "4"], 0.4, 0.8, True),
    (["1", "1", "1", "1", "2"], 0.8, 0.4, True),      # the band's upper end is in
    (["", "", "", "", ""], 0.0, 0.0, False),          # no attempt answered: no label at all
])
def test_the_learnable_band_decides_whether_the_solver_trains(answers, p, challenger, learnable):
    match = play(ChallengerSolverGame(attempts=5).new_match(1), "What is 17 times 3 minus 4?",
                 [box(a) if a else "nothing" for a in answers])
    labels = match.verdict.labels
    assert labels["p"] == pytest.approx(p) and labels["learnable"] is learnable
    assert match.returns()[0] == pytest.approx(challenger)
    assert (match.scored_turns(1) != []) is learnable


def test_the_solver_trains_only_on_learnable_questions_in_the_trainer():
    game = ChallengerSolverGame(attempts=3)
    learnable = play(game.new_match(2), "Count the letter r in strawberry please", [box("3"), box("2"), box("3")], **LM)
    easy = play(game.new_match(3), "What is the sum of 40 and 2?", [box("42")] * 3, **LM)
    played = [PlayedMatch(MatchSpec(m.game, [None, None], k, m.rules, {"learning_seats": [0, 1], "group": k}), m)
              for k, m in enumerate((learnable, easy))]
    samples, _ = turn_samples(played)
    by_role = {role: [s.seat_return for s in samples if s.role == role] for role in ("challenger", "solver")}
    assert by_role["solver"] == [1.0, 0.0, 1.0]  # p = 2/3 is learnable; p = 1 is not
    assert by_role["challenger"] == pytest.approx([2 / 3, 0.0])


def test_the_duplicate_penalty_fires_on_a_near_duplicate_and_not_on_a_new_question():
    game = ChallengerSolverGame(attempts=2, duplicate_threshold=0.6, duplicate_penalty=0.5)
    first = play(game.new_match(4), "How many legs do 3 cats have?", [box("12"), box("9")])
    again = play(game.new_match(5), "how many legs do 3 cats have", [box("12"), box("9")])  # the same, up to case
    near = play(game.new_match(6), "How many legs do 4 cats have?", [box("16"), box("9")])
    new = play(game.new_match(7), "Spell the word house backwards, letter by letter.", [box("esuoh"), box("x")])
    # p = 0.5 each: 1 - 2|p - 0.5| = 1; the penalty takes 0.5 off a duplicate.
    # "howmanylegsdo4catshave" vs "...3...": 20 3-grams each, 3 of them ("do4", "o4c", "4ca") differ: 17 shared of 23.
    assert similarity("How many legs do 4 cats have?", "How many legs do 3 cats have?") == pytest.approx(17 / 23)
    assert [m.verdict.labels["duplicate"] for m in (first, again, near, new)] == [False, True, True, False]
    assert [m.returns()[0] for m in (first, again, near, new)] == pytest.approx([1.0, 0.5, 0.5, 1.0])
    assert "near-duplicate" in again.record()["judge"]["reason"]
    assert game.step_metrics([first, again, near, new])["challenger/duplicate_rate"] == 0.5


@pytest.mark.parametrize("text", ["no box at all", box("Two words"), box("x" * 401),
                                  box("What is 1 + 1?") + box("What is 2 + 2?")])
def test_invalid_questions_are_format_losses(text):
    match = ChallengerSolverGame().new_match(8)
    match.submit(text)
    assert match.is_over() and match.returns() == [-1.5, 0.5]
    assert "format loss" in match.record()["judge"]["reason"]


def test_copying_the_example_is_invalid_and_the_prompt_shows_it():
    match = ChallengerSolverGame().new_match(9)
    assert match.example_question in match.observe().prompt
    match.submit(box(match.example_question.upper() + " !"))
    assert match.returns() == [-1.5, 0.5]


def test_the_copied_placeholder_is_an_empty_vote_not_a_label():
    match = play(ChallengerSolverGame(attempts=3).new_match(10), "How many legs do 2 ducks have?",
                 [box("ANSWER"), box("answer"), box("4")])
    assert match.verdict.labels["label"] == "4" and match.verdict.labels["p"] == pytest.approx(1 / 3)


def test_majority_and_buffer_round_trip():
    assert majority(["a", "b", "b", "a", ""]) == ("a", 0.4)  # ties: the first seen
    buffer = QuestionBuffer(size=2)
    for q in ("one two three", "four five six", "seven eight nine"):
        buffer.add(q)
    assert list(buffer.entries) == ["four five six", "seven eight nine"]
    assert buffer.nearest("one two three") == 0.0 and buffer.nearest("four five six") == 1.0
    restored = QuestionBuffer(size=1)
    restored.load_state_dict(json.loads(json.dumps(buffer.state_dict())))
    assert list(restored.entries) == list(buffer.entries) and restored.size == 2


def test_run_settings_reach_the_game_and_bad_ones_are_one_line_errors():
    cfg = load_config(None, ["judged.attempts=6", "judged.duplicate_penalty=0.25", "judged.learnable_low=0.4"])
    game = make_game("challenger_solver", cfg)
    assert (game.attempts, game.duplicate_penalty, game.learnable) == (6, 0.25, (0.4, 0.8))
    assert make_game("challenger_solver") is not make_game("challenger_solver")  # each run its own buffer
    with pytest.raises(SparringError, match="learnable band"):
        make_game("challenger_solver", load_config(None, ["judged.learnable_low=0.9"]))
    with pytest.raises(SparringError, match="majority vote"):
        make_game("challenger_solver", load_config(None, ["judged.judge=model:tiny"]))


def test_a_tiny_run_logs_the_metrics_and_checkpoints_the_buffer(tmp_path):
    cfg = load_config("configs/tiny_test.yaml", [f"trainer.run_dir={tmp_path / 'run'}", "games.names=[challenger_solver]",
                                                 "trainer.steps=1", "rollout.max_new_tokens=8", "judged.attempts=2"])
    run = train(cfg)
    records = [json.loads(line) for line in (run / "transcripts" / "step_000001.jsonl").read_text().splitlines()]
    finished = [r for r in records if r["returns"] is not None]
    assert finished and all(r["judge"]["returns"] == r["returns"] and r["judge"]["reason"] for r in finished)
    metrics = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert "challenger/valid_rate" in metrics and "challenger/buffer_size" in metrics
    saved = load_trainer_state(run / "checkpoints" / "step_000001")["games"]["challenger_solver"]["buffer"]
    assert saved["entries"] == [r["question"] for r in records if r["question"] is not None]


# --- Adversarial texts: what a challenger or a solver might write to be paid without asking or answering. ---

FORMAT_LOSS = [-1.5, 0.5]  # challenger, solver: the match rules' invalid returns
QUESTION = "How many legs are there in total if you have 3 spiders and 2 cats?"


def spaced(text: str, between: str) -> str:
    """Each word of the text with `between` between its letters."""
    return " ".join(between.join(word) for word in text.split(" "))


@pytest.mark.parametrize("copy", [
    spaced(QUESTION, "\u200b"),                                              # zero-width spaces
    spaced(QUESTION, "\u00ad"),                                              # soft hyphens
    spaced(QUESTION, "-"),                                                   # hyphens between the letters
    "How ma-ny le-gs are the-re in to-tal if you ha-ve 3 spi-ders and 2 ca-ts?",  # hyphens inside words
    "h ow ma ny le gs are th ere in tot al if you ha ve 3 spi ders and 2 ca ts",   # spaces inside words
    QUESTION.upper().replace("?", "!!!"),
    "**How many legs** are there _in total_ if you have 3 spiders & 2 cats???",
    "\uff28\uff4f\uff57 many legs are there in total if you have \uff13 spiders and \uff12 cats?",  # fullwidth
    "Ноw mаny lеgs аrе thеrе in tоtаl if yоu hаvе 3 spidеrs аnd 2 cаts?",    # Cyrillic look-alikes
    "Hów mäny légs are thère in total if you have 3 spiders and 2 cats?",    # accents
    "How mnay legs are thre in totl if you have 3 spiders and 2 cats?",      # three typos
    "How many legs are there in total if you have 4 spiders and 2 cats?",    # another number
])
def test_a_near_copy_in_any_spelling_pays_the_duplicate_penalty(copy):
    game = ChallengerSolverGame(attempts=2)
    first = play(game.new_match(0), QUESTION, [box("28"), box("30")])
    again = play(game.new_match(1), copy, [box("28"), box("30")])
    assert similarity(copy, QUESTION) >= game.duplicate_threshold
    assert (first.verdict.labels["duplicate"], again.verdict.labels["duplicate"]) == (False, True)
    assert first.returns() == [1.0, 0.5] and again.returns() == [0.5, 0.5]


@pytest.mark.parametrize("other", [
    "How many times does the letter r appear in the word strawberry?",
    "Spell the word house backwards, letter by letter.",
    "What is 17 times 3 minus 4?",
    "If a train leaves at 3 and arrives at 5, how long is the trip in hours?",
])
def test_a_different_question_is_not_a_duplicate(other):
    game = ChallengerSolverGame(attempts=2)
    play(game.new_match(0), QUESTION, [box("28"), box("30")])
    new = play(game.new_match(1), other, [box("3"), box("2")])
    assert similarity(other, QUESTION) < 0.3 and new.returns() == [1.0, 0.5]


def test_the_threshold_separates_real_near_copies_from_real_distinct_questions():
    """The guard's threshold (0.6) on reasoning-gym questions: every spelling of a question and one typo in a
    question of 40 letters or more are near-copies; two letter_counting items (other letters in other texts)
    or two items of different tasks are not. Items of one template that differ only in their numbers are
    near-copies too, as "3 cats" and "4 cats" are: a run that asks them over and over pays for it."""
    from sparring.games.reasoning import reasoning_game

    threshold = ChallengerSolverGame().duplicate_threshold
    items = {t: [reasoning_game(t).entry(k)["question"] for k in range(20)] for t in
             ("chain_sum", "basic_arithmetic", "leg_counting", "letter_counting")}
    for question in (q for qs in items.values() for q in qs):
        for copy in (spaced(question, "\u200b"), spaced(question, "-"), question.swapcase(), question + "!!"):
            assert similarity(copy, question) == 1.0
        longest = max(question.split(), key=len)
        typo = question.replace(longest, longest[:2] + "q" + longest[3:], 1)
        if len(letters_and_digits(question)) >= 40:
            assert similarity(typo, question) >= threshold, typo
    letter_pairs = [(a, b) for k, a in enumerate(items["letter_counting"]) for b in items["letter_counting"][k + 1:]]
    assert max(similarity(a, b) for a, b in letter_pairs) < threshold
    assert sum(similarity(a, b) >= 0.5 for a, b in letter_pairs) == 34  # of 190: why the threshold is not 0.5
    tasks = list(items)
    assert max(similarity(a, b) for i, t in enumerate(tasks) for u in tasks[i + 1:]
               for a in items[t] for b in items[u]) < 0.2
    for template in ("chain_sum", "leg_counting"):
        assert min(similarity(items[template][0], b) for b in items[template][1:]) >= threshold


@pytest.mark.parametrize("text", [
    box("c\u200ba\u200bt"),                   # one word made three by zero-width spaces
    box("\u732b \u6709 \u51e0 \u6761 \u817f"),  # no Latin letter or digit: no word a rule can read
    box("\U0001f431 \U0001f436 \U0001f42d ?"),
    box("... ??? !!!"),
    box("What is {1 + 1} in total?"),         # braces end no answer
    box("How many legs? " * 30),              # 450 characters
    box("x " * 50_000),                       # 100k characters
])
def test_a_question_without_three_readable_words_or_too_long_is_a_format_loss(text):
    match = ChallengerSolverGame().new_match(8)
    match.submit(text)
    assert match.is_over() and match.returns() == FORMAT_LOSS


@pytest.mark.parametrize("spelling", [
    lambda q: spaced(q, "\u200b"), lambda q: spaced(q, "-"), lambda q: q.upper() + " !",
    lambda q: q.replace("e", "\u0435"),       # Cyrillic e
])
def test_the_example_in_another_spelling_is_still_the_example(spelling):
    match = ChallengerSolverGame().new_match(2)
    match.submit(box(spelling(match.example_question)))
    assert match.is_over() and match.returns() == FORMAT_LOSS


@pytest.mark.parametrize("question", ["What is 9**9**9 in total?", "What is 2 + 2?\x00", "Is it 12 or 13, maybe?"])
def test_a_hostile_but_readable_question_is_played_and_nothing_in_it_is_computed(question):
    match = play(ChallengerSolverGame(attempts=2).new_match(3), question, [box("4"), box("5")])
    assert match.returns() == [1.0, 0.5] and match.record()["question"] == question


@pytest.mark.parametrize("answers, label, p, challenger, solver", [
    # the placeholder in any case, punctuation, width, spacing or script is an empty vote
    ([box("Answer."), box("[ANSWER]"), box("12"), box("\uff41\uff4e\uff53\uff57\uff45\uff52")], "12", 0.25, 0.5,
     [0.0, 0.0, 1.0, 0.0]),
    ([box("A N S W E R"), box("ANS\u200bWER"), box("\u0410NSW\u0415R"), box("7")], "7", 0.25, 0.5, [0.0, 0.0, 0.0, 1.0]),
    ([box("**answer**"), box("Answer!"), box("answer"), box("7")], "7", 0.25, 0.5, [0.0, 0.0, 0.0, 1.0]),
    # an answer without a letter or digit is no answer either
    ([box("?"), box("?"), box("..."), box("12")], "12", 0.25, 0.5, [0.0, 0.0, 0.0, 1.0]),
    # spellings of one answer are one vote
    ([box("12"), box("\uff11\uff12"), box("12."), box("**12**")], "12", 1.0, 0.0, [1.0, 1.0, 1.0, 1.0]),
    ([box("1\u200b2"), box("Blue"), box("'blue'"), box("12")], "12", 0.5, 1.0, [1.0, 0.0, 0.0, 1.0]),
    ([box("-12"), box("12"), box("-12"), box("12")], "-12", 0.5, 1.0, [1.0, 0.0, 1.0, 0.0]),   # the sign counts
    # two answers are none; a hedge is not a vote for either answer
    ([box("12") + box("13"), box("13"), box("13"), box("12")], "13", 0.5, 1.0, [0.0, 1.0, 1.0, 0.0]),
    ([box("12 or 13"), box("12"), box("12"), box("13")], "12", 0.5, 1.0, [0.0, 1.0, 1.0, 0.0]),
    (["\\boxed{" * 20_000, box("x" * 100_000), box("x" * 100_000), box("y")], "x" * 100_000, 0.5, 1.0,
     [0.0, 1.0, 1.0, 0.0]),
])
def test_votes_and_rewards_by_hand(answers, label, p, challenger, solver):
    match = play(ChallengerSolverGame(attempts=4).new_match(5), "How many legs do 3 spiders have?", answers)
    assert (match.verdict.labels["label"], match.verdict.labels["p"]) == (label, pytest.approx(p))
    assert match.returns() == pytest.approx([challenger, sum(solver) / 4])
    assert match.verdict.labels["rewards"] == solver


@pytest.mark.parametrize("p, duplicate, reward", [
    (0.5, False, 1.0), (0.25, False, 0.5), (0.75, False, 0.5), (0.0, False, 0.0), (1.0, False, 0.0),
    (0.5, True, 0.5), (0.25, True, 0.0), (0.2, True, 0.0),   # R-Zero clamps at 0: never below
])
def test_the_challenger_reward_is_r_zero_uncertainty_less_the_penalty_clamped_at_0(p, duplicate, reward):
    assert challenger_reward(p, 0.5 if duplicate else 0.0) == pytest.approx(reward)


def test_a_duplicate_that_the_solver_mostly_disagrees_on_pays_0_not_a_negative_reward():
    game = ChallengerSolverGame(attempts=5)
    play(game.new_match(0), QUESTION, [box("28")] * 5)
    again = play(game.new_match(1), QUESTION, [box(str(k)) for k in range(5)])  # p = 0.2: 0.4 - 0.5 < 0
    assert again.verdict.labels["duplicate"] and again.returns()[0] == 0.0
