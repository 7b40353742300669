"""Judged games whose matches reach their judges: scripted answers, the games' state grows, and a resumed run
continues as if never stopped.

The tiny model's text never closes an answer, so in its runs every judged match ends in a format loss before
any judge rules and the games' state (creator and challenger buffers, ask_answer_verify's curriculum) never
changes. Here the generation engine answers from a script instead, choosing among answers with torch's
generator, which checkpoints restore: the run and its resumed copy are the same run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from sparring.backends.base import Generated
from sparring.backends.hf import HFBackend
from sparring.checkpoint import load_trainer_state
from sparring.config import load_config
from sparring.training.metrics import read_metrics
from sparring.training.trainer import train

from test_trainer import CONFIG, comparable

GAMES = ("creator_solver", "challenger_solver", "ask_answer_verify")
VARIANTS = {"(2 + 3) * 4": "20", "7 * 8 - 6": "50", "12 - 5 * 2": "2"}
QUESTIONS = ("How many legs do 3 spiders and 2 cats have in total?", "What is the sum of 17, 25 and 40?")


def pick(options: list[str]) -> str:
    return options[int(torch.randint(len(options), ()))]


def scripted_answer(prompt: str) -> str:
    """A well-formed answer for whichever seat the prompt is for, right or wrong by a draw."""
    document = re.search(r"Document:\n(\w+)", prompt)
    if "Write a new problem like it" in prompt:
        return pick(list(VARIANTS))
    if variant := re.search(r"What is (.+)\? Answer with the integer alone", prompt):
        return pick([VARIANTS[variant.group(1)], "0"])
    if "Write a new question of this kind" in prompt:
        return pick(list(QUESTIONS))
    if "Answer with the answer alone" in prompt:
        return pick(["26", "82"])
    if "Ask a question about the document" in prompt:
        return f"Which word does the document start with? | {document.group(1)}"
    if "Answer with a few words" in prompt:
        return pick([document.group(1), "chess"])
    if "Does the given answer mean the same" in prompt:
        return pick(["yes", "no"])
    raise AssertionError(f"no scripted answer for: {prompt}")


@pytest.fixture
def scripted(monkeypatch):
    """The HF engine answers every request from `scripted_answer` (closing the answer the template opened)."""
    def generate(backend, requests, sampling):
        out = []
        for request in requests:
            text = scripted_answer(backend.tokenizer.decode(request.prompt_ids)) + "}"
            ids = backend.tokenizer.encode(text, add_special_tokens=False)
            out.append(Generated(ids, [-1.0] * len(ids), "answer"))
        return out

    monkeypatch.setattr(HFBackend, "generate", generate)


def judge_kinds(run: Path) -> dict[str, set[str]]:
    """For each game, the kinds of judge that ended its matches in the run's transcripts."""
    kinds: dict[str, set[str]] = {}
    for path in (run / "transcripts").glob("*.jsonl"):
        for record in map(json.loads, path.read_text().splitlines()):
            if record["judge"] is not None:
                kinds.setdefault(record["game"], set()).add(record["judge"]["kind"])
    return kinds


def test_judged_games_reach_their_judges_and_resume_with_their_state(tmp_path, scripted):
    cfg = load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", f"games.names=[{', '.join(GAMES)}]",
                               "trainer.steps=3", "trainer.keep_checkpoints=3", "rollout.turns_per_step=24",
                               "judged.attempts=3", "judged.promote_window=2"])
    run = train(cfg)
    reference = read_metrics(run)
    assert all("rule" in kinds for kinds in judge_kinds(run).values()) and len(judge_kinds(run)) == len(GAMES)
    checkpoints = run / "checkpoints"
    at_resume = load_trainer_state(checkpoints / "step_000002")["games"]
    assert at_resume["creator_solver"]["buffer"]["entries"] and at_resume["challenger_solver"]["buffer"]["entries"]
    assert at_resume["ask_answer_verify"]["level"] > 1
    final = load_trainer_state(checkpoints / "step_000003")["games"]
    shutil.rmtree(checkpoints / "step_000003")  # as if killed after step 2's checkpoint
    train(cfg, resume=True)
    assert comparable(read_metrics(run)) == comparable(reference)
    assert load_trainer_state(checkpoints / "step_000003")["games"] == final
