"""challenger_solver (R-Zero): hand-computed rewards, the learnable band, the duplicate penalty, validity, a run."""

from __future__ import annotations

import json

import pytest

from sparring.checkpoint import load_trainer_state
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.games import make_game
from sparring.games.challenger_solver import ChallengerSolverGame, QuestionBuffer, majority, similarity
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.trainer import train, turn_samples

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
    # 3 of 5 say "12" (p = 0.6, learnable): challenger min(0.6, 0.4) = 0.4; the attempts agreeing with "12" get 1.
    match = play(game.new_match(0), "How many legs do 3 cats have?",
                 [box("12"), box(" 12 "), box("7"), "no answer", box("12")])
    assert match.verdict.labels["label"] == "12" and match.verdict.labels["p"] == pytest.approx(0.6)
    assert match.returns() == pytest.approx([0.4, 0.6])
    assert [r for _, r in match.scored_turns(1)] == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert "3 of 5" in match.record()["judge"]["reason"] and match.record()["turns"][4]["move"] == ""


@pytest.mark.parametrize("answers, p, challenger, learnable", [
    (["4"] * 5, 1.0, 0.0, False),                     # everyone agrees: too easy, nothing to learn
    (["1", "2", "3", "4", "5"], 0.2, 0.2, False),     # a first-seen tie of one vote each: p = 0.2 < 0.3
    (["1", "1", "2", "3", "4"], 0.4, 0.4, True),
    (["1", "1", "1", "1", "2"], 0.8, 0.2, True),      # the band's upper end is in
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
    assert by_role["challenger"] == pytest.approx([1 / 3, 0.0])


def test_the_duplicate_penalty_fires_on_a_near_duplicate_and_not_on_a_new_question():
    game = ChallengerSolverGame(attempts=2, duplicate_threshold=0.5, duplicate_penalty=0.5)
    first = play(game.new_match(4), "How many legs do 3 cats have?", [box("12"), box("9")])
    again = play(game.new_match(5), "how many legs do 3 cats have", [box("12"), box("9")])  # the same, up to case
    near = play(game.new_match(6), "How many legs do 4 cats have?", [box("16"), box("9")])
    new = play(game.new_match(7), "Spell the word house backwards, letter by letter.", [box("esuoh"), box("x")])
    # p = 0.5 each: min(p, 1 - p) = 0.5; the penalty takes 0.5 off a duplicate.
    # "4 cats" vs "3 cats": bigrams {how many, many legs, legs do, do 4/3, 4/3 cats, cats have}: 4 shared of 8.
    assert similarity("How many legs do 4 cats have?", "How many legs do 3 cats have?") == pytest.approx(4 / 8)
    assert [m.verdict.labels["duplicate"] for m in (first, again, near, new)] == [False, True, True, False]
    assert [m.returns()[0] for m in (first, again, near, new)] == pytest.approx([0.5, 0.0, 0.0, 0.5])
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
