"""The LM player: batched generation, recorded log-probs, stopping on a closed answer, templates."""

from __future__ import annotations

import copy
import types

import pytest
import torch
from transformers import LogitsProcessor

from sparring.errors import SparringError
from sparring.games.answer import extract_answer
from sparring.games.base import MatchRules, Observation
from sparring.backends.base import Request
from sparring.backends.hf import HFBackend
from sparring.players.lm import AnswerStop, LMPlayer, lm_player_from_spec, sequence_logprobs
from sparring.games.templates import TEMPLATES, render_prompt

PROMPTS = [
    "Pick one.",
    "You are playing kuhn_poker, as player_0.\nYour card: K.\nLegal moves: pass, bet\n"
    "Put your final answer within \\boxed{}, for example \\boxed{MOVE}.",
    "Board:\n X | O | \n---------\n   | X | \n---------\n O |   |  \nLegal moves: 2, 3, 5, 7, 8",
    "go " * 30,
]


def observation(prompt: str, answer_format: str = "boxed") -> Observation:
    match = types.SimpleNamespace(rules=MatchRules(answer_format=answer_format))
    return Observation(match, 0, prompt, ["pass", "bet"])


def test_batched_greedy_equals_one_at_a_time(tiny):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=12)
    batched = player.act_batch([observation(p) for p in PROMPTS])
    single = [player.act_batch([observation(p)])[0] for p in PROMPTS]
    assert len({a.text for a in batched}) > 1  # the prompts really lead to different texts
    for b, s in zip(batched, single):
        assert b.text == s.text
        assert b.extra["prompt_ids"] == s.extra["prompt_ids"]
        assert b.extra["completion_ids"] == s.extra["completion_ids"]
        assert b.extra["logprobs"] == pytest.approx(s.extra["logprobs"], abs=1e-4)
    assert player.tokens_generated == 2 * sum(a.extra["num_tokens"] for a in batched)


def test_recorded_logprobs_equal_a_fresh_forward_pass(tiny):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, temperature=0.7, max_new_tokens=10)
    torch.manual_seed(0)
    actions = player.act_batch([observation(p) for p in PROMPTS])
    prompt_ids = [a.extra["prompt_ids"] for a in actions]
    completion_ids = [a.extra["completion_ids"] for a in actions]
    for action in actions:
        assert action.extra["num_tokens"] == len(action.extra["completion_ids"]) == len(action.extra["logprobs"])
        assert tokenizer.pad_token_id not in action.extra["prompt_ids"][:1]  # no left padding kept
    with torch.no_grad():
        fresh = sequence_logprobs(model, prompt_ids, completion_ids, temperature=0.7)
    for action, recomputed in zip(actions, fresh):
        assert torch.allclose(torch.tensor(action.extra["logprobs"]), recomputed, atol=1e-4)
    # one row alone gives the same numbers as inside the padded batch
    with torch.no_grad():
        alone = sequence_logprobs(model, prompt_ids[:1], completion_ids[:1], temperature=0.7)[0]
    assert torch.allclose(alone, fresh[0], atol=1e-4)


def nucleus_logprobs(model, prompt: list[int], completion: list[int], temperature: float, top_p: float) -> torch.Tensor:
    """Log-probs of a completion under temperature then top-p, renormalised, written out by hand."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + completion])).logits[0, len(prompt) - 1 : -1].float()
    out = []
    for row, token in zip(logits / temperature, completion):
        probs = row.softmax(-1)
        order = probs.argsort(descending=True)
        mass_before = probs[order].cumsum(0) - probs[order]  # mass of the more likely tokens
        kept = order[mass_before < top_p]
        assert token in kept.tolist()  # a token outside the nucleus was sampled
        out.append(row[token] - row[kept].logsumexp(0))
    return torch.stack(out)


@pytest.mark.parametrize("top_p", [0.5, 0.9])
def test_recorded_logprobs_are_those_of_the_truncated_sampling_distribution(tiny, top_p):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, temperature=0.7, top_p=top_p, max_new_tokens=6)
    torch.manual_seed(1)
    actions = player.act_batch([observation(p) for p in PROMPTS[:2]])
    for action in actions:
        prompt, completion = action.extra["prompt_ids"], action.extra["completion_ids"]
        expected = nucleus_logprobs(model, prompt, completion, 0.7, top_p)
        assert torch.allclose(torch.tensor(action.extra["logprobs"]), expected, atol=1e-4)
        with torch.no_grad():
            (untruncated,) = sequence_logprobs(model, [prompt], [completion], temperature=0.7)
        assert (expected - untruncated).min() > 0.05  # the nucleus renormalisation is really in the record


def test_a_nucleus_of_one_token_records_probability_one(tiny):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, top_p=1e-6, max_new_tokens=5)
    for action in player.act_batch([observation(p) for p in PROMPTS]):
        assert action.extra["logprobs"] == [0.0] * len(action.extra["completion_ids"])


def test_sampling_is_reproducible_from_torch_seed(tiny):
    model, tokenizer = tiny
    player = LMPlayer(model, tokenizer, max_new_tokens=8)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append([a.extra["completion_ids"] for a in player.act_batch([observation(p) for p in PROMPTS[:2]])])
    assert runs[0] == runs[1]


def test_sequence_logprobs_is_differentiable(tiny):
    model, _ = tiny
    (logprobs,) = sequence_logprobs(model, [[1, 2, 3]], [[4, 5]])
    assert logprobs.shape == (2,) and logprobs.requires_grad
    logprobs.sum().backward()
    assert model.model.embed_tokens.weight.grad is not None
    model.zero_grad(set_to_none=True)


class _Script(LogitsProcessor):
    """Forces the completion to be a fixed token sequence (for testing where generation stops)."""

    def __init__(self, script: list[int]):
        self.script, self.start = script, None

    def __call__(self, input_ids, scores):
        if self.start is None:
            self.start = input_ids.shape[1]
        step = min(input_ids.shape[1] - self.start, len(self.script) - 1)
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.script[step]] = 0.0
        return forced


class ScriptedBackend(HFBackend):
    script: list[int] = []

    def warpers(self, sampling):
        return [_Script(self.script)]


def ScriptedPlayer(model, tokenizer, **options) -> LMPlayer:
    return LMPlayer(model, tokenizer, backend=ScriptedBackend(model, tokenizer), **options)


def _closing_prefix(tokenizer, ids: list[int], answer_format: str) -> list[int]:
    for k in range(1, len(ids) + 1):
        if extract_answer(tokenizer.decode(ids[:k]), answer_format) is not None:
            return ids[:k]
    raise AssertionError("script has no closed answer")


def test_generation_stops_once_the_answer_is_closed(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("I pick [bet] since \\boxed{pass} is weak, more words follow", add_special_tokens=False)
    player = ScriptedPlayer(model, tokenizer, max_new_tokens=len(ids) + 5)
    player.backend.script = ids
    boxed, bracket = player.act_batch([observation(PROMPTS[0], "boxed"), observation(PROMPTS[1], "bracket")])
    assert boxed.extra["completion_ids"] == _closing_prefix(tokenizer, ids, "boxed")
    assert bracket.extra["completion_ids"] == _closing_prefix(tokenizer, ids, "bracket")
    assert boxed.text.endswith("}") and bracket.text.endswith("]")
    assert boxed.extra["stop"] == bracket.extra["stop"] == "answer"
    assert len(boxed.extra["logprobs"]) == boxed.extra["num_tokens"] < len(ids)


def test_generation_stops_at_eos_and_keeps_it_as_the_last_token(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("no answer here", add_special_tokens=False)
    player = ScriptedPlayer(model, tokenizer, max_new_tokens=20)
    player.backend.script = ids + [tokenizer.eos_token_id] + ids
    (action,) = player.act_batch([observation(PROMPTS[0])])
    assert action.extra["completion_ids"] == ids + [tokenizer.eos_token_id]
    # "short" pre-fills the answer opener: the text is the opener plus what the model wrote.
    assert action.text == "\\boxed{no answer here" and action.extra["stop"] == "eos"
    player.backend.script = ids * 10
    (action,) = player.act_batch([observation(PROMPTS[0])])
    assert action.extra["num_tokens"] == 20 and action.extra["stop"] == "length"


def test_stop_criterion_on_token_ids(tiny):
    _, tokenizer = tiny
    prompt = [5, 6, 7]
    completion = tokenizer.encode("so \\boxed{bet} and", add_special_tokens=False)
    stop = AnswerStop(tokenizer, len(prompt), [Request([], "boxed"), Request([], "bracket")], {tokenizer.eos_token_id})
    for k in range(1, len(completion) + 1):
        row = prompt + completion[:k]
        done = stop(torch.tensor([row, row]), None)
        closed = extract_answer(tokenizer.decode(completion[:k]), "boxed") is not None
        assert done.tolist() == [closed, False]
    assert stop.stop_length[0] == len(_closing_prefix(tokenizer, completion, "boxed"))
    assert stop.stop_reason == ["answer", None]


def test_templates_and_chat_rendering(tiny):
    _, tokenizer = tiny
    assert set(TEMPLATES) >= {"short", "spiral"}
    chat = render_prompt(tokenizer, "spiral", "GAME PROMPT")
    assert "GAME PROMPT" in chat and "two-player zero-sum game" in chat
    assert chat.rstrip().endswith("assistant")  # generation prompt opened
    plain_tokenizer = copy.deepcopy(tokenizer)
    plain_tokenizer.chat_template = None
    plain = render_prompt(plain_tokenizer, "short", "GAME PROMPT")
    assert plain == "GAME PROMPT\\boxed{" and "<|im_start|>" not in plain
    assert render_prompt(plain_tokenizer, "short", "GAME PROMPT", "bracket") == "GAME PROMPT["


def test_unknown_template_is_a_one_line_error(tiny):
    model, tokenizer = tiny
    for call in (lambda: render_prompt(tokenizer, "shrot", "x"), lambda: LMPlayer(model, tokenizer, template="shrot")):
        with pytest.raises(SparringError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "shrot" in message and "short" in message and "spiral" in message


def test_player_from_spec():
    player = lm_player_from_spec("lm:tiny", greedy=True, max_new_tokens=3)
    assert isinstance(player, LMPlayer) and player.name == "lm:tiny" and player.greedy
    with pytest.raises(SparringError, match="not found"):
        lm_player_from_spec("lm:/no/such/dir")
    with pytest.raises(SparringError):
        lm_player_from_spec("random")
