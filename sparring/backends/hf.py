"""The reference engine: HF transformers' batched ``generate`` on the policy model itself.

It shares the trainer's model object, so it always samples from the current weights (``sync`` is
a no-op), and LoRA adapters (the policy's, or a pool snapshot swapped into the opponent slot) act
as they do in the learner. Sampling draws from torch's global RNG.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from sparring.backends.base import CLOSING, Backend, Generated, Request, Sampling, answer_closed, eos_ids
from sparring.model import eval_mode


class AnswerStop(StoppingCriteria):
    """Stops each row once its completion holds a closed answer in its format, or an EOS token.

    ``prompt_length`` is the padded prompt length (generation appends after it).
    ``stop_length[i]`` is the completion length at which row ``i`` stopped (stop token
    included) and ``stop_reason[i]`` is ``"answer"`` or ``"eos"``; both stay ``None`` while
    the row runs.
    """

    def __init__(self, tokenizer: Any, prompt_length: int, requests: list[Request], eos: set[int]):
        self.tokenizer = tokenizer
        self.requests = requests
        self.prompt_length = prompt_length
        self.eos_ids = set(eos)
        self.stop_length: list[int | None] = [None] * len(requests)
        self.stop_reason: list[str | None] = [None] * len(requests)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        length = input_ids.shape[1] - self.prompt_length
        if length > 0:
            for row, token in enumerate(input_ids[:, -1].tolist()):
                if self.stop_length[row] is not None:
                    continue
                if token in self.eos_ids:
                    self.stop_length[row], self.stop_reason[row] = length, "eos"
                    continue
                request = self.requests[row]
                # Only a token that writes the closing character can close an answer.
                if CLOSING[request.answer_format] not in self.tokenizer.decode([token]):
                    continue
                if answer_closed(self.tokenizer, request, input_ids[row, self.prompt_length:].tolist()):
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


class HFBackend(Backend):
    name = "hf"

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer

    @staticmethod
    def warpers(sampling: Sampling) -> list[LogitsProcessor]:
        """The sampling warpers, applied before the log-prob recorder."""
        if sampling.greedy:
            return []
        processors: list[LogitsProcessor] = []
        if sampling.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_p < 1.0:
            processors.append(TopPLogitsWarper(sampling.top_p))
        return processors

    @torch.no_grad()
    def generate(self, requests: list[Request], sampling: Sampling) -> list[Generated]:
        device = next(self.model.parameters()).device
        eos = eos_ids(self.model, self.tokenizer)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(eos)
        width = max(len(r.prompt_ids) for r in requests)
        input_ids = torch.tensor([[pad_id] * (width - len(r.prompt_ids)) + r.prompt_ids for r in requests],
                                 device=device)
        attention_mask = torch.tensor([[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids)
                                       for r in requests], device=device)
        stop = AnswerStop(self.tokenizer, width, requests, eos)
        recorder = _LogprobRecorder()
        # Sampling is done by our own warpers, then the recorder; generate's are all neutral.
        neutral = {} if sampling.greedy else {"temperature": 1.0, "top_k": 0, "top_p": 1.0}
        config = GenerationConfig(max_new_tokens=sampling.max_new_tokens, do_sample=not sampling.greedy,
                                  num_beams=1, use_cache=True, eos_token_id=sorted(eos), pad_token_id=pad_id,
                                  **neutral)
        # Per-role adapters: peft runs each row through its own adapter in the one batch.
        adapters = {"adapter_names": [r.adapter for r in requests]} if any(r.adapter for r in requests) else {}
        with eval_mode(self.model):
            sequences = self.model.generate(
                input_ids=input_ids, attention_mask=attention_mask, generation_config=config,
                logits_processor=LogitsProcessorList([*self.warpers(sampling), recorder]),
                stopping_criteria=StoppingCriteriaList([stop]), **adapters,
            )
        logprobs = recorder.finish(sequences)
        generated = sequences[:, width:].cpu()
        results = []
        for row in range(len(requests)):
            length = stop.stop_length[row] if stop.stop_length[row] is not None else generated.shape[1]
            results.append(Generated(generated[row, :length].tolist(), logprobs[row, :length].tolist(),
                                     stop.stop_reason[row] or "length"))
        return results
