"""How far a policy is from the Nash equilibrium of the preference game, on a finite answer set.

The preference game is symmetric and zero-sum: two players each pick an answer to the prompt, the first
wins ``P(a > b) - 1/2``. With the answers restricted to K fixed candidates per prompt and ``P`` the rule
judge's exact matrix, a policy's strategy ``p`` is its distribution over the candidates (each one's
sequence probability at the sampling temperature, renormalised over the K, as exploitability reads a
poker strategy). Its duality gap

    gap(p) = max_q P(q > p) - min_q P(p > q) = 2 max_i (P p)_i - 1    (P + P^T = 1)

is 0 exactly at a Nash equilibrium and at most 1. Candidates for a prompt with integer reference ``a``:
``a`` and the distractors ``a + 1, a - 1, a + 10, a - 10``; under the rule judge's ``closer`` tie-break
the matrix then has the reference as its Condorcet winner and ties between equally distant answers.
"""

from __future__ import annotations

import torch

from sparring.errors import SparringError
from sparring.games.answer import format_answer
from sparring.games.base import MatchRules
from sparring.games.preference import PreferenceGame, PreferenceMatch
from sparring.games.templates import reply_ids
from sparring.logprobs import answer_logprobs
from sparring.model import eval_mode
from sparring.players.lm import LMPlayer, encode_prompts

DISTRACTORS = (1, -1, 10, -10)


def duality_gap(preference: torch.Tensor, strategy: torch.Tensor) -> float:
    """``2 max_i (P p)_i - 1`` for a preference matrix ``[K, K]`` with ``P + P^T = 1`` and a strategy ``[K]``."""
    return float(2 * (preference.double() @ strategy.double()).max() - 1)


def candidates(reference: str) -> list[str]:
    """The fixed answers of a prompt: its integer reference first, then the distractors."""
    try:
        value = int(reference.strip())
    except ValueError:
        raise SparringError(f"the preference gap needs prompts with integer answers, got {reference!r}: "
                            "choose tasks such as chain_sum or basic_arithmetic") from None
    return [str(value + d) for d in (0, *DISTRACTORS)]


def preference_gap(policy: LMPlayer, game: PreferenceGame, items: int, rules: MatchRules) -> dict[str, float]:
    """The policy's mean duality gap over ``items`` held-out prompts, and its mean mass on the reference, with
    prompts and candidate answers written in the answer format of `rules` (the run's: `match_rules(cfg)`)."""
    source = game.held_out()
    judge = game.judge
    prompts, answers, matrices = [], [], []
    for index in range(items):
        prompt = source.prompt(index)
        match = PreferenceMatch(game, index, rules, prompt)
        options = candidates(prompt.reference)
        replies = [format_answer(o, rules.answer_format) for o in options]
        matrices.append(torch.tensor(judge.rank([prompt.score(o) for o in options], options, replies,
                                                prompt.reference)))
        text = policy.render(match.observe())
        prompts.append(encode_prompts(policy.tokenizer, [text])[0])
        answers.append([reply_ids(policy.tokenizer, policy.template, rules.answer_format, r) for r in replies])
    with torch.no_grad(), eval_mode(policy.model):
        scored = answer_logprobs(policy.model, prompts, answers, policy.logprob_temperature)
    gaps, reference_mass = [], []
    for logps, matrix in zip(scored, matrices):
        strategy = torch.softmax(logps.double(), dim=-1)
        gaps.append(duality_gap(matrix, strategy))
        reference_mass.append(float(strategy[0]))
    return {"preference_gap/mean": sum(gaps) / len(gaps),
            "preference_gap/reference_mass": sum(reference_mass) / len(reference_mass)}

