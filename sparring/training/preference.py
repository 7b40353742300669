"""Preference groups for the learner: the ranked answers of each preference match as learner samples.

Every answer a preference match recorded becomes a `LearnerSample` carrying its group (the match) and
its row of the judge's preference matrix; under ``opponent: data`` (SPIN) the data's answer comes
first, tokenised as the policy would have written it after the same prompt.
"""

from __future__ import annotations

from typing import Any

from sparring.games.preference import PreferenceMatch
from sparring.games.templates import reply_ids
from sparring.players.rollout import PlayedMatch
from sparring.training.learner import LearnerSample


def preference_samples(played: list[PlayedMatch], tokenizer: Any, template: str) -> list[LearnerSample]:
    """The learner samples of every judged preference match, one group per match."""
    samples = []
    for group, pm in enumerate(played):
        match = pm.match
        if not isinstance(match, PreferenceMatch) or match.verdict is None:
            continue
        rows = [tuple(row) for row in match.verdict.labels["preference"]]
        turns = [t for t in match.turns if "completion_ids" in t.extra]
        if len(turns) != len(match.turns):
            raise ValueError("a preference loss needs every answer of the group sampled by the policy")
        answers = [(t.extra["prompt_ids"], t.extra["completion_ids"], t.extra["logprobs"]) for t in turns]
        if match.opponent == "data":
            data = reply_ids(tokenizer, template, match.rules.answer_format, match.data_reply())
            answers.insert(0, (turns[0].extra["prompt_ids"], data, [0.0] * len(data)))
        samples += [LearnerSample(list(prompt), list(completion), list(logprobs), 0.0, group=group, preference=row)
                    for (prompt, completion, logprobs), row in zip(answers, rows)]
    return samples
