"""The language-model player: renders observations into prompts and answers a whole batch of them
in one call to its generation engine (:mod:`sparring.backends`: HF transformers by default, vLLM).

Every row stops as soon as its answer is closed (``\\boxed{...}`` or ``[...]``, per the
observation's answer format) or at end of sequence, so short answers cost few tokens. Each
action carries what a learner needs: the prompt's token ids, the completion's token ids (up to
and including the stop token) and the sampling log-probability of every completion token.

Log-probabilities are those of the distribution each token was *sampled from*: ``log_softmax``
of the logits after temperature and top-p (HF engine: tokens outside the nucleus at ``-inf``, the
rest renormalised), at the sampled token; when greedy, ``log_softmax(logits)``. With ``top_p = 1``
this equals ``log_softmax(logits / T)``, which the learner recomputes with
:func:`sequence_logprobs`; the learner reports any gap (``logprob_drift``) and corrects for it
with a truncated importance weight (``algo.is_cap``).

With ``moves="legal"`` the player writes no free text: at a decision with a list of legal moves it
scores every legal move's answer tokens (:func:`legal_answer_logprobs`, one batched pass) and
samples one from their renormalised probabilities, the strategy the exploitability scorer reads
(action scoring, as in GLAM, Carta et al. 2023). No move is invalid; the recorded log-probs are the
model's own token log-probs of the chosen answer. Observations without legal moves (open text) are
still generated.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from sparring.backends import make_backend
from sparring.backends.base import Backend, Request, Sampling
from sparring.backends.hf import AnswerStop
from sparring.errors import SparringError
from sparring.games.base import Observation
from sparring.games.answer import format_answer
from sparring.logprobs import sequence_logprobs
from sparring.model import eval_mode
from sparring.players.base import Action, Player
from sparring.players.settings import check_settings
from sparring.games.templates import answer_ids, answer_prefix, render_prompt

__all__ = ["AnswerStop", "LMPlayer", "encode_prompts", "legal_answer_logprobs", "lm_player_from_spec",
           "sequence_logprobs"]



def encode_prompts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of rendered prompts. Chat-rendered prompts already carry their special tokens;
    plain-text prompts get the tokenizer's own (for example a BOS token)."""
    add_special = not bool(getattr(tokenizer, "chat_template", None))
    return tokenizer(texts, add_special_tokens=add_special).input_ids


def legal_answer_logprobs(model: Any, tokenizer: Any, template: str, observations: list[Observation],
                          prompt_ids: list[list[int]], temperature: float = 1.0, share_prefix: bool = True,
                          context: Any = None) -> list[list[tuple[list[int], torch.Tensor]]]:
    """For each observation, each legal move's answer tokens (`answer_ids`) and their per-token log-probs
    under ``log_softmax(logits / temperature)``: one no-grad pass in eval mode (the policy as it samples), on
    the prompts' `context` when given (`sparring.logprobs.prompt_context`)."""
    answers = [[answer_ids(tokenizer, template, obs.answer_format, move, obs.legal_moves) for move in obs.legal_moves]
               for obs in observations]
    rows = [(ids, answer) for ids, candidates in zip(prompt_ids, answers) for answer in candidates]
    with torch.no_grad(), eval_mode(model):
        scores = sequence_logprobs(model, [p for p, _ in rows], [a for _, a in rows], temperature, share_prefix,
                                   context)
    scored = iter(scores)
    return [[(answer, next(scored)) for answer in candidates] for candidates in answers]


class LMPlayer(Player):
    """A policy model that answers observations by sampling text.

    ``template``: a name from :data:`sparring.games.templates.TEMPLATES`. ``greedy`` picks the most
    likely token (log-probs then use temperature 1). ``moves``: ``"free"`` writes text, ``"legal"`` samples
    among the legal moves' answers by their probabilities (module doc). ``role_adapters``: each seat answers through the
    LoRA adapter named after its role (`model.adapters_per_role`). Sampling draws from torch's global RNG,
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
        backend: str | Backend = "hf",
        role_adapters: bool = False,
        moves: str = "free",
    ):
        check_settings(template, moves, max_new_tokens, temperature, top_p, greedy)
        if moves == "legal" and role_adapters:
            raise SparringError("moves=legal scores with the active adapter: it does not combine with per-role adapters")
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
        self.backend = make_backend(backend, model, tokenizer) if isinstance(backend, str) else backend
        self.role_adapters = role_adapters
        self.moves = moves

    @property
    def logprob_temperature(self) -> float:
        """The temperature the recorded log-probs are scaled by (1 when greedy)."""
        return 1.0 if self.greedy else self.temperature

    def render(self, observation: Observation) -> str:
        """The full prompt text the model sees for this observation."""
        return render_prompt(self.tokenizer, self.template, observation.prompt, observation.answer_format,
                             task=observation.is_task)

    def sync(self) -> None:
        """After a weight update: make the engine sample from the model's new weights."""
        self.backend.sync()

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.max_new_tokens, self.temperature, self.top_p, self.greedy)

    def adapter(self, observation: Observation) -> str:
        """The role adapter that answers this observation, or a one-line error when the model has none."""
        role = observation.match.role(observation.seat)
        if role not in getattr(self.model, "peft_config", {}):
            raise SparringError(f"model.adapters_per_role: the model has no adapter for role {role!r} "
                                f"of {observation.match.game.name}")
        return role

    def act_batch(self, observations: list[Observation]) -> list[Action]:
        if not observations:
            return []
        prompt_ids = encode_prompts(self.tokenizer, [self.render(obs) for obs in observations])
        legal = [self.moves == "legal" and bool(obs.legal_moves) for obs in observations]
        scored = [k for k, chosen in enumerate(legal) if chosen]
        written = [k for k, chosen in enumerate(legal) if not chosen]
        started = time.perf_counter()
        actions = dict(zip(scored, self._choose_legal([observations[k] for k in scored], [prompt_ids[k] for k in scored])))
        actions.update(zip(written, self._write([observations[k] for k in written], [prompt_ids[k] for k in written])))
        self.generation_seconds += time.perf_counter() - started
        return [actions[k] for k in range(len(observations))]

    def _action(self, obs: Observation, text: str, prompt_ids: list[int], completion_ids: list[int],
                logprobs: list[float], stop: str, **extra: Any) -> Action:
        self.tokens_generated += len(completion_ids)
        return Action(text, extra={"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": logprobs,
                                   "num_tokens": len(completion_ids), "stop": stop, "legal_moves": list(obs.legal_moves),
                                   **extra})

    def _write(self, observations: list[Observation], prompt_ids: list[list[int]]) -> list[Action]:
        """Free text from the generation engine, one reply per observation."""
        if not observations:
            return []
        requests = [Request(ids, obs.answer_format, answer_prefix(self.template, obs.answer_format),
                            self.adapter(obs) if self.role_adapters else None)
                    for ids, obs in zip(prompt_ids, observations)]
        generated = self.backend.generate(requests, self.sampling)
        return [self._action(obs, request.prefix + self.tokenizer.decode(out.completion_ids, skip_special_tokens=True),
                             request.prompt_ids, out.completion_ids, out.logprobs, out.stop)
                for request, out, obs in zip(requests, generated, observations)]

    def _choose_legal(self, observations: list[Observation], prompt_ids: list[list[int]]) -> list[Action]:
        """One legal move per observation, drawn from the renormalised probabilities of the legal answers
        (the most likely one when greedy); torch's global RNG draws, as generation does."""
        if not observations:
            return []
        scored = legal_answer_logprobs(self.model, self.tokenizer, self.template, observations, prompt_ids,
                                       self.logprob_temperature)
        actions = []
        for obs, ids, candidates in zip(observations, prompt_ids, scored):
            totals = torch.stack([logps.sum() for _, logps in candidates]).float()
            k = int(totals.argmax()) if self.greedy else int(torch.multinomial(torch.softmax(totals, 0), 1))
            answer, logps = candidates[k]
            actions.append(self._action(obs, format_answer(obs.legal_moves[k], obs.answer_format), ids, answer,
                                        [float(x) for x in logps], "answer",
                                        legal_probs=[float(p) for p in torch.softmax(totals, 0)]))
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
