"""The language-model player: one batched ``generate`` call per batch of observations.

Every row stops as soon as its answer is closed (``\\boxed{...}`` or ``[...]``, per the
observation's answer format) or at end of sequence, so short answers cost few tokens. Each
action carries what a learner needs: the prompt's token ids, the completion's token ids (up to
and including the stop token) and the sampling log-probability of every completion token.

Log-probabilities are those of the distribution each token was *sampled from*: ``log_softmax``
of the logits after temperature and top-p (tokens outside the nucleus at ``-inf``, the rest
renormalised), at the sampled token; when greedy, ``log_softmax(logits)``. With ``top_p = 1``
this equals ``log_softmax(logits / T)``, which the learner recomputes with
:func:`sequence_logprobs`; with ``top_p < 1`` the recorded values are higher than the learner's
(the nucleus' mass is renormalised to 1), and the learner's ``logprob_drift`` reports that gap as
what it is: learner versus sampler.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from sparring.errors import SparringError
from sparring.games.answer import extract_answer
from sparring.games.base import Observation
from sparring.logprobs import sequence_logprobs
from sparring.players.base import Action, Player
from sparring.games.templates import TEMPLATES, answer_prefix, render_prompt

__all__ = ["AnswerStop", "LMPlayer", "encode_prompts", "lm_player_from_spec", "sequence_logprobs"]

_CLOSING = {"boxed": "}", "bracket": "]"}


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(config_eos, int):
        ids.add(config_eos)
    elif config_eos:
        ids.update(int(i) for i in config_eos)
    return ids


class AnswerStop(StoppingCriteria):
    """Stops each row once its completion holds a closed answer in its format, or an EOS token.

    ``prompt_length`` is the padded prompt length (generation appends after it).
    ``stop_length[i]`` is the completion length at which row ``i`` stopped (stop token
    included) and ``stop_reason[i]`` is ``"answer"`` or ``"eos"``; both stay ``None`` while
    the row runs.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, answer_formats: list[str], eos_ids: set[int],
                 prefixes: list[str] | None = None):
        self.tokenizer = tokenizer
        self.prefixes = prefixes or [""] * len(answer_formats)  # pre-filled answer starts, per row
        self.prompt_length = prompt_length
        self.answer_formats = list(answer_formats)
        self.eos_ids = set(eos_ids)
        self.stop_length: list[int | None] = [None] * len(self.answer_formats)
        self.stop_reason: list[str | None] = [None] * len(self.answer_formats)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        length = input_ids.shape[1] - self.prompt_length
        if length > 0:
            last = input_ids[:, -1].tolist()
            for row, token in enumerate(last):
                if self.stop_length[row] is not None:
                    continue
                if token in self.eos_ids:
                    self.stop_length[row], self.stop_reason[row] = length, "eos"
                    continue
                answer_format = self.answer_formats[row]
                # Only a token that writes the closing character can close an answer.
                if _CLOSING[answer_format] not in self.tokenizer.decode([token]):
                    continue
                text = self.prefixes[row] + self.tokenizer.decode(
                    input_ids[row, self.prompt_length :].tolist(), skip_special_tokens=True)
                if extract_answer(text, answer_format) is not None:
                    self.stop_length[row], self.stop_reason[row] = length, "answer"
        done = [n is not None for n in self.stop_length]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _LogprobRecorder(LogitsProcessor):
    """Records ``log_softmax(scores)`` of each sampled token, holding one step in memory.

    It must run last, after the sampling warpers, so ``scores`` are the logits of the distribution
    the token is drawn from. At step ``t`` it sees the token drawn at ``t - 1`` in ``input_ids``
    and gathers its log-probability from the distribution kept from step ``t - 1``;
    :meth:`finish` gathers the last drawn token.
    """

    def __init__(self):
        self.previous: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def _gather(self, tokens: torch.Tensor) -> None:
        assert self.previous is not None
        self.steps.append(self.previous.gather(1, tokens[:, None]).squeeze(1))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.previous is not None:
            self._gather(input_ids[:, -1])
        self.previous = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences: torch.Tensor) -> torch.Tensor:
        """``(batch, generated)`` log-probabilities of the generated tokens."""
        if self.previous is not None:
            self._gather(sequences[:, -1])
            self.previous = None
        if not self.steps:
            return torch.zeros(sequences.shape[0], 0)
        return torch.stack(self.steps, dim=1).cpu()


def encode_prompts(tokenizer: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    """Left-padded token ids and attention mask for rendered prompts.

    Chat-rendered prompts already carry their special tokens; plain-text prompts get the
    tokenizer's own (for example a BOS token).
    """
    add_special = not bool(getattr(tokenizer, "chat_template", None))
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=add_special)
    finally:
        tokenizer.padding_side = previous_side


class LMPlayer(Player):
    """A policy model that answers observations by sampling text.

    ``template``: a name from :data:`sparring.games.templates.TEMPLATES`. ``greedy`` picks the most
    likely token (log-probs then use temperature 1). Sampling draws from torch's global RNG,
    so a seeded run is reproducible. ``tokens_generated`` and ``generation_seconds`` add up
    over calls, for tokens-per-second reports.
    """

    batched = True  # the rollout engine sends it every pending turn at once

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        template: str = "short",
        max_new_tokens: int = 32,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        name: str = "lm",
    ):
        if template not in TEMPLATES:
            raise SparringError(f"unknown prompt template {template!r} (choose from: {', '.join(TEMPLATES)})")
        if max_new_tokens < 1:
            raise SparringError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if not greedy and temperature <= 0:
            raise SparringError(f"temperature must be positive, got {temperature} (use greedy=True for argmax)")
        if not 0 < top_p <= 1:
            raise SparringError(f"top_p must be in (0, 1], got {top_p}")
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.greedy = greedy
        self.name = name
        self.tokens_generated = 0
        self.generation_seconds = 0.0

    @property
    def logprob_temperature(self) -> float:
        """The temperature the recorded log-probs are scaled by (1 when greedy)."""
        return 1.0 if self.greedy else self.temperature

    def render(self, observation: Observation) -> str:
        """The full prompt text the model sees for this observation."""
        return render_prompt(self.tokenizer, self.template, observation.prompt, observation.answer_format,
                             task=observation.is_task)

    def _logits_processors(self) -> list[LogitsProcessor]:
        """The sampling warpers, applied before the log-prob recorder."""
        if self.greedy:
            return []
        processors: list[LogitsProcessor] = []
        if self.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(self.temperature))
        if self.top_p < 1.0:
            processors.append(TopPLogitsWarper(self.top_p))
        return processors

    @torch.no_grad()
    def act_batch(self, observations: list[Observation]) -> list[Action]:
        if not observations:
            return []
        tokenizer = self.tokenizer
        device = _device(self.model)
        encoded = encode_prompts(tokenizer, [self.render(obs) for obs in observations])
        input_ids = encoded["input_ids"].to(device)
        attention_mask = encoded["attention_mask"].to(device)
        prompt_length = input_ids.shape[1]
        eos_ids = _eos_ids(self.model, tokenizer)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)

        prefixes = [answer_prefix(self.template, obs.answer_format) for obs in observations]
        stop = AnswerStop(tokenizer, prompt_length, [obs.answer_format for obs in observations], eos_ids, prefixes)
        recorder = _LogprobRecorder()
        # Sampling is done by our own warpers, then the recorder; generate's are all neutral.
        sampling = {} if self.greedy else {"temperature": 1.0, "top_k": 0, "top_p": 1.0}
        config = GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=not self.greedy,
            num_beams=1,
            use_cache=True,
            eos_token_id=sorted(eos_ids),
            pad_token_id=pad_id,
            **sampling,
        )
        was_training = self.model.training
        self.model.eval()
        started = time.perf_counter()
        try:
            sequences = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=config,
                logits_processor=LogitsProcessorList([*self._logits_processors(), recorder]),
                stopping_criteria=StoppingCriteriaList([stop]),
            )
        finally:
            self.model.train(was_training)
        self.generation_seconds += time.perf_counter() - started
        logprobs = recorder.finish(sequences)
        generated = sequences[:, prompt_length:].cpu()

        actions = []
        for row in range(len(observations)):
            length = stop.stop_length[row] if stop.stop_length[row] is not None else generated.shape[1]
            completion = generated[row, :length].tolist()
            prompt_ids = input_ids[row, attention_mask[row].bool()].tolist()
            text = prefixes[row] + tokenizer.decode(completion, skip_special_tokens=True)
            self.tokens_generated += length
            actions.append(
                Action(
                    text,
                    extra={
                        "prompt_ids": prompt_ids,
                        "completion_ids": completion,
                        "logprobs": logprobs[row, :length].tolist(),
                        "num_tokens": length,
                        "stop": stop.stop_reason[row] or "length",
                        "legal_moves": list(observations[row].legal_moves),
                    },
                )
            )
        return actions


def lm_player_from_spec(spec: str, **kwargs: Any) -> LMPlayer:
    """An :class:`LMPlayer` from ``lm:default``, ``lm:tiny`` or ``lm:PATH``; kwargs go to LMPlayer."""
    from sparring.model import load_model

    kind, _, name = spec.partition(":")
    if kind != "lm" or not name:
        raise SparringError(f"not a model player spec {spec!r} (use lm:default, lm:tiny or lm:PATH)")
    model, tokenizer = load_model(name)
    kwargs.setdefault("name", spec)
    return LMPlayer(model, tokenizer, **kwargs)
