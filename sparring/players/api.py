"""Served models as players: ``api:MODEL@URL`` plays through any OpenAI-compatible endpoint (vLLM,
llama.cpp, Ollama, a hosted API) where ``lm:`` plays in this process. ``sparring serve`` serves a
sparring model that way.

Prompts. With ``api.endpoint: chat`` the template's text (:func:`template_text`) goes out as one user
message and the server wraps it in the model's chat template; with ``completions`` it goes out as it
is (for a model without a chat template). A template that pre-fills the reply's answer opener
(``short``: ``\\boxed{``) sends it as the start of the reply (chat: a last assistant message the server
continues), so a vLLM server sees the prompt ``lm:`` gives the model in this process and, greedy, plays
the same moves.

vLLM's extensions. At start the player checks that the endpoint serves the model (``/models``), then
asks for one token with vLLM's extra fields (``continue_final_message``, ``prompt_logprobs``) and uses
them from then on if the reply carries prompt log-probs. With them a reply is pre-filled, stops at the
answer's closing brace (going on, as ``lm:`` does, when that brace closes no answer) and legal moves
can be scored. Without them (another server) a chat reply is not pre-filled and the model writes its
whole answer, cut after its first closed answer (where ``lm:`` stops); ``moves: legal`` falls back to
written answers. Either fallback is said once, at start.

Legal moves (``moves: legal``): each legal move's answer (:func:`answer_text`) is sent as the end of the
reply, one request per move, and scored by the endpoint's prompt log-probs of the tokens after those the
candidates share; the move is drawn from the softmax of the sums (the player's own seeded generator),
or the most likely one when greedy. The served log-probs are the model's own, untempered: legal moves
are drawn at temperature 1 whatever ``temperature`` says.

Failures. A reply that names no legal move is an invalid move like any other. A turn that still has no
reply after the retries (:mod:`sparring.players.endpoint`) is no move at all: its action carries the
failure, the rollout abandons the match, the transcripts keep it (``"abandoned": {"seat", "reason"}``)
and no rate, rating or training step counts it. At start, an endpoint that cannot be reached, a model
it does not serve, a refused key or a key variable that is not set is a one-line error.

The key is read from the environment variable ``api.key_env`` names and sent only in the request's
Authorization header; the player's name, which transcripts record, is the spec, which holds no key.
Sampling at a temperature above 0 draws on the server, unseeded: it does not repeat across runs.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sparring.config import ApiConfig
from sparring.errors import SparringError
from sparring.games.answer import answer_closer, first_answer_end, format_answer
from sparring.games.base import Observation
from sparring.games.templates import TEMPLATES, answer_prefix, answer_text, template_text
from sparring.players.base import Action, Player
from sparring.players.endpoint import Endpoint, EndpointError, RefusedError, TransportError
from sparring.players.settings import check_settings

__all__ = ["ApiPlayer", "api_player_from_spec", "parse_api_spec"]

log = logging.getLogger(__name__)

PROBE = ("Say OK.", "O")  # the start-up request's user message and reply opener: one token asked for


def parse_api_spec(spec: str) -> tuple[str, str]:
    """``(model, base URL)`` of ``api:MODEL@URL``, or a one-line error."""
    kind, _, rest = spec.partition(":")
    model, at, url = rest.partition("@")
    if kind != "api" or not model or not at or not url:
        raise SparringError(f"player {spec!r}: write api:MODEL@URL, e.g. api:default@http://127.0.0.1:8000/v1")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SparringError(f"player {spec!r}: {url!r} is not an http:// or https:// URL")
    if parts.username or parts.password:  # not repeated in the message: it would print them
        raise SparringError(f"player api:{model}@...: the URL holds credentials, and transcripts record it; put the key "
                            "in an environment variable and name it with api.key_env (--api-key-env)")
    return model, url.rstrip("/")


def read_key(key_env: str, name: str) -> str | None:
    """The API key from the variable ``key_env`` (None when none is named), or a one-line error if it is unset."""
    if not key_env:
        return None
    key = os.environ.get(key_env)
    if not key:
        raise SparringError(f"{name}: the API key variable ${key_env} is not set (api.key_env / --api-key-env names it)")
    return key


@dataclass(frozen=True)
class Reply:
    text: str
    tokens: int
    finish: str | None  # the endpoint's finish_reason: "stop", "length"...
    stop_string: str | None  # vLLM's stop_reason: the stop string that ended the reply (None: end of sequence)


class ApiPlayer(Player):
    """A model served at an OpenAI-compatible endpoint, answering with the same prompt and sampling settings as
    :class:`sparring.players.lm.LMPlayer` (``template``, ``max_new_tokens``, ``temperature``, ``top_p``,
    ``greedy``, ``moves``); ``api`` says how to reach it. It sends a batch's turns ``api.concurrency`` at a
    time. ``tokens_generated`` and ``generation_seconds`` add up over calls."""

    batched = True  # the rollout sends it every pending turn at once, and it sends them concurrently

    def __init__(self, model: str, url: str, *, template: str = "short", max_new_tokens: int = 32,
                 temperature: float = 1.0, top_p: float = 1.0, greedy: bool = False, moves: str = "free",
                 api: ApiConfig = ApiConfig(), seed: int = 0, name: str | None = None):
        check_settings(template, moves, max_new_tokens, temperature, top_p, greedy)
        self.model_name = model  # not `model`: that names an in-process model's weights
        self.url = url
        self.name = name or f"api:{model}@{url}"
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.sampling = {"temperature": 0.0, "top_p": 1.0} if greedy else {"temperature": temperature, "top_p": top_p}
        self.greedy = greedy
        self.moves = moves
        self.key_env = api.key_env
        self.chat = api.endpoint == "chat"
        self.path = "/chat/completions" if self.chat else "/completions"
        self.endpoint = Endpoint(url, read_key(api.key_env, self.name), api.timeout, api.retries, api.backoff)
        self.tokens_generated = 0
        self.generation_seconds = 0.0
        self.reseed(seed)
        self.extensions = self._connect()
        self._say_fallbacks()
        self._pool = ThreadPoolExecutor(api.concurrency, thread_name_prefix="sparring-api")

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)  # draws among scored legal moves

    # -- start-up

    def _connect(self) -> bool:
        """Check the endpoint serves the model; whether it takes vLLM's extensions. One-line errors."""
        try:
            listed = self.endpoint.get("/models")
            served = [entry["id"] for entry in listed["data"]]
        except RefusedError as error:
            if error.status != 404:  # a server without a model list: the probe below still meets a wrong name
                raise self._start_error(error) from None
            served = None
        except EndpointError as error:
            raise self._start_error(error) from None
        except (KeyError, TypeError) as error:
            raise SparringError(f"{self.name}: {self.url}/models is not an OpenAI model list "
                                f"({type(error).__name__}: {error})") from None
        if served is not None and self.model_name not in served:
            raise SparringError(f"{self.name}: {self.url} serves no model {self.model_name!r} "
                                f"(it serves: {', '.join(map(str, served)) or 'none'})")
        text, opener = PROBE
        try:
            response = self.endpoint.post(self.path, self._body(text, opener, max_tokens=1, temperature=0.0,
                                                                prompt_logprobs=0))
        except RefusedError as error:
            if error.status != 400:
                raise self._start_error(error) from None
            try:  # a server that refuses vLLM's fields: ask plainly
                self._reply(self.endpoint.post(self.path, self._body(text, "", max_tokens=1, temperature=0.0)))
            except EndpointError as plain_error:
                raise self._start_error(plain_error) from None
            return False
        except EndpointError as error:
            raise self._start_error(error) from None
        try:
            self._reply(response)
        except TransportError as error:
            raise self._start_error(error) from None
        return isinstance(served_prompt_logprobs(response), list)

    def _start_error(self, error: EndpointError) -> SparringError:
        if isinstance(error, RefusedError) and error.status in (401, 403):
            sent = f"the key in ${self.key_env}" if self.key_env else "a request without a key (name its variable " \
                                                                   "with api.key_env / --api-key-env)"
            return SparringError(f"{self.name}: the endpoint refused {sent}: {error}")
        if isinstance(error, RefusedError) and error.status == 404:
            return SparringError(f"{self.name}: {error} (is the URL the API's base, such as http://127.0.0.1:8000/v1, "
                                 "and the model one it serves?)")
        return SparringError(f"{self.name}: cannot use {self.url}: {error}")

    def _say_fallbacks(self) -> None:
        if self.extensions:
            return
        if self.chat and TEMPLATES[self.template].prefill_answer:
            log.warning("%s: the endpoint takes no pre-filled reply (vLLM's continue_final_message), so the model "
                        "writes its whole answer", self.name)
        if self.moves == "legal":
            log.warning("%s: the endpoint offers no prompt log-probs, so moves=legal falls back to written answers "
                        "(parsed; they may be invalid)", self.name)

    # -- requests

    def _body(self, text: str, reply: str, **fields: Any) -> dict[str, Any]:
        """One request: the prompt's text, what the reply starts with (pre-filled) and the generation fields."""
        body: dict[str, Any] = {"model": self.model_name, **fields}
        if not self.chat:
            return {**body, "prompt": text + reply}
        body["messages"] = [{"role": "user", "content": text}]
        if reply:
            body["messages"].append({"role": "assistant", "content": reply})
            body.update(continue_final_message=True, add_generation_prompt=False)
        return body

    def _reply(self, response: Any) -> Reply:
        """The reply in an endpoint's response, or a TransportError when the response is no completion."""
        try:
            choice = response["choices"][0]
            text = choice["message"]["content"] if self.chat else choice["text"]
            usage = response.get("usage") or {}
            return Reply(text or "", int(usage.get("completion_tokens") or 0), choice.get("finish_reason"),
                         choice.get("stop_reason") if isinstance(choice.get("stop_reason"), str) else None)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise TransportError(f"the reply is not an OpenAI completion ({str(response)[:80]!r})") from None

    def _opener(self, observation: Observation) -> str:
        """What the reply starts with: the template's answer opener, where the endpoint lets it be pre-filled."""
        return answer_prefix(self.template, observation.answer_format) if self.extensions or not self.chat else ""

    def _write(self, observation: Observation) -> Action:
        """A written reply, cut after its first closed answer (where ``lm:`` stops)."""
        text, opener = self._text(observation), self._opener(observation)
        closer = answer_closer(observation.answer_format)
        stop = {"stop": [closer], "include_stop_str_in_output": True} if self.extensions else {}
        written, tokens, ended = opener, 0, "length"
        while tokens < self.max_new_tokens:
            reply = self._reply(self.endpoint.post(self.path, self._body(
                text, written, max_tokens=self.max_new_tokens - tokens, **self.sampling, **stop)))
            written, tokens = written + reply.text, tokens + reply.tokens
            end = first_answer_end(written, observation.answer_format)
            if end is not None:
                written, ended = written[:end], "answer"
                break
            if reply.stop_string != closer or not reply.tokens:  # the model ended its reply, or ran out of tokens
                ended = "length" if reply.finish == "length" else "eos"
                break
        return Action(written, extra={"num_tokens": tokens, "stop": ended})

    def _text(self, observation: Observation) -> str:
        return template_text(self.template, observation.prompt, observation.is_task)

    def _move_logprobs(self, observation: Observation, move: str) -> list[tuple[int, float]]:
        """(token id, log-prob) of every prompt token after the first, the reply ending with ``move``'s answer."""
        reply = self._opener(observation) + answer_text(self.template, observation.answer_format, move,
                                                        observation.legal_moves)
        response = self.endpoint.post(self.path, self._body(self._text(observation), reply, max_tokens=1,
                                                            temperature=0.0, prompt_logprobs=0))
        try:
            return [next((int(token), float(info["logprob"])) for token, info in entry.items())
                    for entry in served_prompt_logprobs(response)[1:]]
        except (TypeError, ValueError, KeyError, AttributeError, StopIteration):
            raise TransportError(f"the reply carries no prompt log-probs ({str(response)[:80]!r})") from None

    def _choose(self, scored: list[list[tuple[int, float]]]) -> int:
        """Which move: each scored by the log-probs of its tokens after those all candidates share."""
        shared = 0
        while all(len(tokens) > shared for tokens in scored) and len({tokens[shared][0] for tokens in scored}) == 1:
            shared += 1
        totals = np.array([sum(logprob for _, logprob in tokens[shared:]) for tokens in scored])
        if self.greedy:
            return int(totals.argmax())
        weights = np.exp(totals - totals.max())
        return int(self.rng.choice(len(totals), p=weights / weights.sum()))

    # -- playing

    def _scores_legal(self, observation: Observation) -> bool:
        return self.moves == "legal" and self.extensions and bool(observation.legal_moves)

    def _jobs(self, observation: Observation) -> list[Callable[[], Any]]:
        """The requests one observation needs: one written reply, or a score per legal move (none for a single one)."""
        if not self._scores_legal(observation):
            return [partial(self._write, observation)]
        if len(observation.legal_moves) == 1:
            return []
        return [partial(self._move_logprobs, observation, move) for move in observation.legal_moves]

    def _action(self, observation: Observation, results: list[Any]) -> Action:
        failed = next((r for r in results if isinstance(r, EndpointError)), None)
        if failed is not None:
            return Action("", failure=f"transport: {failed}")
        if not self._scores_legal(observation):
            return results[0]
        chosen = self._choose(results) if results else 0
        return Action(format_answer(observation.legal_moves[chosen], observation.answer_format), extra={"stop": "answer"})

    def act_batch(self, observations: list[Observation]) -> list[Action]:
        started = time.perf_counter()
        jobs = [self._jobs(obs) for obs in observations]
        results = iter(self._pool.map(run_job, [job for own in jobs for job in own]))
        actions = [self._action(obs, [next(results) for _ in own]) for obs, own in zip(observations, jobs)]
        self.tokens_generated += sum(action.extra.get("num_tokens", 0) for action in actions)
        self.generation_seconds += time.perf_counter() - started
        return actions


def run_job(job: Callable[[], Any]) -> Any:
    """The job's result, or the EndpointError it raised (a transport failure belongs to its turn alone)."""
    try:
        return job()
    except EndpointError as error:
        return error


def served_prompt_logprobs(response: Any) -> Any:
    """vLLM's prompt log-probs in a response: on the response (chat) or on its first choice (completions)."""
    if not isinstance(response, dict):
        return None
    found, choices = response.get("prompt_logprobs"), response.get("choices")
    if found is None and isinstance(choices, list) and choices and isinstance(choices[0], dict):
        found = choices[0].get("prompt_logprobs")
    return found


def api_player_from_spec(spec: str, seed: int = 0, api: ApiConfig | None = None, **settings: Any) -> ApiPlayer:
    """An :class:`ApiPlayer` from ``api:MODEL@URL``; ``settings`` are LMPlayer's (template, temperature...)."""
    model, url = parse_api_spec(spec)
    return ApiPlayer(model, url, api=api or ApiConfig(), seed=seed, name=spec, **settings)
