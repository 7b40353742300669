"""Served models as players (api:MODEL@URL) and `sparring serve`.

Against a real server: `sparring serve default` starts vLLM's OpenAI-compatible server on CPU once for the
module; greedy, the served model plays the moves `lm:default` plays in this process. Against a scripted
server from the standard library (a thread): every error path, each with its defined outcome.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.config import ApiConfig
from sparring.errors import SparringError
from sparring.evaluation.arena import run_arena
from sparring.games import make_game
from sparring.players import make_player
from sparring.players.api import parse_api_spec

ROOT = Path(__file__).resolve().parents[1]
QUICK = ApiConfig(timeout=2.0, retries=1, backoff=0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def moves(path: Path) -> list[list[tuple[int, str | None]]]:
    """Each match's (seat, move) list from a transcripts file."""
    return [[(t["seat"], t["move"]) for t in json.loads(line)["turns"]] for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- a scripted endpoint


def ok(endpoint: "ScriptedEndpoint", body: dict) -> tuple[int, object, dict]:
    return 200, endpoint.completion(body), {}


def status(code: int, message: str = "boom", headers: dict | None = None):
    return lambda endpoint, body: (code, {"error": {"message": message}}, headers or {})


def raw(text: str):
    return lambda endpoint, body: (200, text.encode(), {})


def slow(seconds: float):
    def answer(endpoint, body):
        time.sleep(seconds)
        return ok(endpoint, body)
    return answer


class ScriptedEndpoint:
    """An OpenAI-compatible server that lists `models` and answers POSTs from `script` (in order), then with
    `reply` as a completion. `vllm`: it takes vLLM's extensions (prompt log-probs: one token per character,
    log-prob -weights.get(char, 1)). Every request is kept in `requests` as (path, headers, body)."""

    def __init__(self, models=("m",), vllm: bool = True, reply: str = "pass}"):
        self.models, self.vllm, self.reply = list(models), vllm, reply
        self.script: list = []
        self.weights: dict[str, float] = {}
        self.requests: list[tuple[str, dict, dict]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send(self, code: int, payload, headers: dict) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self.send(200, {"object": "list", "data": [{"id": m} for m in endpoint.models]}, {})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append((self.path, dict(self.headers), body))
                answer = endpoint.script.pop(0) if endpoint.script else ok
                self.send(*answer(endpoint, body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spec(self, model: str = "m") -> str:
        return f"api:{model}@{self.url}"

    def completion(self, body: dict) -> dict:
        chat = "messages" in body
        choice = {"index": 0, "finish_reason": "stop",
                  "stop_reason": "}" if self.vllm and self.reply.endswith("}") else None}
        choice.update({"message": {"role": "assistant", "content": self.reply}} if chat else {"text": self.reply})
        response = {"choices": [choice], "usage": {"completion_tokens": 2}}
        if self.vllm and body.get("prompt_logprobs") is not None:
            text = "".join(m["content"] for m in body["messages"]) if chat else body["prompt"]
            scored = [None] + [{str(ord(c)): {"logprob": -self.weights.get(c, 1.0)}} for c in text[1:]]
            (response if chat else choice)["prompt_logprobs"] = scored
        return response

    def posts(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    endpoints: list[ScriptedEndpoint] = []

    def make(**kwargs) -> ScriptedEndpoint:
        endpoints.append(ScriptedEndpoint(**kwargs))
        return endpoints[-1]

    yield make
    for endpoint in endpoints:
        endpoint.close()


def kuhn_self_play(player, tmp_path: Path, matches: int = 1):
    """`matches` Kuhn matches of the player against itself, one at a time, transcripts to tmp_path."""
    out = tmp_path / "transcripts.jsonl"
    result = run_arena(make_game("kuhn_poker"), [player, player], matches, concurrency=1, transcripts=out)
    return result, [json.loads(line) for line in out.read_text().splitlines()]


# ----------------------------------------------------------------------------- start-up errors


@pytest.mark.parametrize("spec, says", [
    ("api:m", "write api:MODEL@URL"),
    ("api:@http://127.0.0.1:1/v1", "write api:MODEL@URL"),
    ("api:m@ftp://127.0.0.1/v1", "is not an http:// or https:// URL"),
    ("api:m@http://user:sk-secret@127.0.0.1/v1", "the URL holds credentials"),
])
def test_a_malformed_spec_is_one_line(spec, says):
    with pytest.raises(SparringError, match=says) as caught:
        parse_api_spec(spec)
    assert "\n" not in str(caught.value) and "sk-secret" not in str(caught.value)


def test_a_missing_key_variable_is_one_line_before_any_request(scripted, monkeypatch):
    endpoint = scripted()
    monkeypatch.delenv("SPARRING_TEST_KEY", raising=False)
    with pytest.raises(SparringError, match=r"the API key variable \$SPARRING_TEST_KEY is not set"):
        make_player(endpoint.spec(), api=ApiConfig(key_env="SPARRING_TEST_KEY"))
    assert endpoint.posts() == 0


def test_an_unreachable_url_is_one_line(capsys):
    spec = f"api:m@http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with pytest.raises(SparringError, match="cannot connect") as caught:
        make_player(spec, api=QUICK)
    assert "\n" not in str(caught.value) and "(2 tries)" in str(caught.value)
    assert main(["arena", "kuhn_poker", spec, "random", "--api-retries", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparring: error: ") and "cannot connect" in err and "\n" not in err


def test_a_model_the_endpoint_does_not_serve_is_one_line(scripted):
    endpoint = scripted(models=("smollm2",))
    with pytest.raises(SparringError, match=r"serves no model 'nope' \(it serves: smollm2\)"):
        make_player(endpoint.spec("nope"), api=QUICK)


@pytest.mark.parametrize("answer, says", [(raw("<html>bad gateway</html>"), "the reply is not JSON"),
                                          (lambda endpoint, body: (200, {"result": "ok"}, {}),
                                           "the reply is not an OpenAI completion")])
def test_garbage_at_start_is_one_line(scripted, answer, says):
    endpoint = scripted()
    endpoint.script = [answer, answer]  # the start-up request and its one retry
    with pytest.raises(SparringError, match=says) as caught:
        make_player(endpoint.spec(), api=QUICK)
    assert "\n" not in str(caught.value)


def test_the_key_goes_out_as_a_bearer_token_and_is_written_nowhere(scripted, monkeypatch, tmp_path, caplog):
    secret = "sk-test-0123456789"
    monkeypatch.setenv("SPARRING_TEST_KEY", secret)
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=ApiConfig(key_env="SPARRING_TEST_KEY", retries=0))
    _, records = kuhn_self_play(player, tmp_path)
    assert all(headers["Authorization"] == f"Bearer {secret}" for _, headers, _ in endpoint.requests)
    assert secret not in (tmp_path / "transcripts.jsonl").read_text() + repr(player) + player.name + caplog.text
    endpoint.script = [status(401, f"Incorrect API key provided: {secret}")]
    with pytest.raises(SparringError, match=r"refused the key in \$SPARRING_TEST_KEY") as caught:
        make_player(endpoint.spec(), api=ApiConfig(key_env="SPARRING_TEST_KEY", retries=0))
    assert secret not in str(caught.value) and "***" in str(caught.value)


# ----------------------------------------------------------------------------- mid-match outcomes


def test_a_429_then_a_reply_plays_the_move(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=QUICK)
    endpoint.script = [status(429, "slow down", {"Retry-After": "0"})]
    result, records = kuhn_self_play(player, tmp_path)
    assert not result.abandoned and records[0]["returns"] is not None
    assert [turn["move"] for turn in records[0]["turns"]] == ["pass", "pass"]
    assert endpoint.posts() == 1 + 3  # start-up, the 429, its retry, the second turn


def test_500s_past_the_retries_abandon_the_match_and_keep_what_was_written(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=QUICK)
    # match 0: both turns answered; match 1: the first turn answered, the second gets 500 twice (a try and a retry)
    endpoint.script = [ok, ok, ok, status(500, "engine died"), status(500, "engine died")]
    result, records = kuhn_self_play(player, tmp_path, matches=2)
    finished, cut = records
    assert finished["returns"] is not None and len(finished["turns"]) == 2 and "abandoned" not in finished
    assert cut["returns"] is None and [t["move"] for t in cut["turns"]] == ["pass"]
    assert cut["abandoned"] == {"seat": 1, "reason": "transport: HTTP 500: engine died (2 tries)"}
    assert result.abandoned == [cut["abandoned"]]
    assert result.tallies[(0, None)].matches + result.tallies[(1, None)].matches == 2  # match 0, both seats
    assert "1 more abandoned, not counted" in result.shows


def test_once_a_turn_used_up_its_retries_the_next_tries_once_until_a_reply_gets_through(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=ApiConfig(timeout=2.0, retries=3, backoff=0.01))
    endpoint.script = [status(503)] * 5  # match 0's first turn: a try and 3 retries; match 1's: one try
    _, records = kuhn_self_play(player, tmp_path, matches=3)
    assert [r["abandoned"]["reason"] for r in records[:2]] == ["transport: HTTP 503: boom (4 tries)",
                                                               "transport: HTTP 503: boom (1 try)"]
    assert records[2]["returns"] is not None and endpoint.posts() == 1 + 5 + 2


def test_a_timeout_abandons_the_match_and_is_never_the_models_move(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=ApiConfig(timeout=0.2, retries=0))
    endpoint.script = [slow(1.0)]
    result, records = kuhn_self_play(player, tmp_path)
    assert records[0]["turns"] == [] and records[0]["abandoned"]["reason"] == "transport: no reply within 0.2 s (1 try)"
    assert result.tallies == {}


def test_play_says_when_the_served_opponent_failed(scripted, capsys):
    endpoint = scripted()
    endpoint.script = [ok] + [status(502, "bad gateway")] * 2  # start-up, then the opponent's first turn fails
    assert main(["play", "kuhn_poker", "--seat", "1", "--opponent", endpoint.spec(), "--api-retries", "1",
                 "--api-backoff", "0"]) == 0
    assert "The match was abandoned, no result: transport: HTTP 502: bad gateway (2 tries)" in capsys.readouterr().out


def test_garbage_mid_match_abandons_it(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=QUICK)
    endpoint.script = [raw("not json"), raw("not json")]
    _, records = kuhn_self_play(player, tmp_path)
    assert records[0]["abandoned"]["reason"].startswith("transport: the reply is not JSON ('not json')")


def test_a_reply_naming_no_legal_move_is_an_invalid_move(scripted, tmp_path):
    endpoint = scripted(reply="fold}")
    player = make_player(endpoint.spec(), api=QUICK)
    result, records = kuhn_self_play(player, tmp_path)
    assert records[0]["turns"][0]["text"] == "\\boxed{fold}" and records[0]["turns"][0]["move"] is None
    assert not result.abandoned and result.tallies[(0, None)].counts["invalid"] == 1


def test_a_reply_goes_on_past_a_brace_that_closes_no_answer(scripted, tmp_path):
    endpoint = scripted(reply="Let S = {1}")  # the spiral template reasons first; vLLM stops it at the "}"
    player = make_player(endpoint.spec(), api=QUICK, template="spiral")
    continued = []

    def answer(e, body):
        continued.append(body["messages"][-1])
        e.reply = ", so \\boxed{bet}"
        return ok(e, body)

    endpoint.script = [ok, answer]
    _, records = kuhn_self_play(player, tmp_path)
    assert continued == [{"role": "assistant", "content": "Let S = {1}"}]  # the reply so far, continued
    assert records[0]["turns"][0]["text"] == "Let S = {1}, so \\boxed{bet}" and records[0]["turns"][0]["move"] == "bet"


# ----------------------------------------------------------------------------- prompts and legal moves


def test_chat_prefills_the_answer_opener_and_completions_sends_plain_text(scripted, tmp_path):
    endpoint = scripted()
    kuhn_self_play(make_player(endpoint.spec(), api=QUICK), tmp_path)
    path, _, body = endpoint.requests[-1]
    assert path == "/v1/chat/completions" and [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert body["messages"][1]["content"] == "\\boxed{" and body["continue_final_message"] is True
    assert body["stop"] == ["}"] and body["include_stop_str_in_output"] is True
    kuhn_self_play(make_player(endpoint.spec(), api=ApiConfig(endpoint="completions", timeout=2.0)), tmp_path)
    path, _, body = endpoint.requests[-1]
    assert path == "/v1/completions" and body["prompt"].startswith("You are playing kuhn_poker.")
    assert body["prompt"].endswith("Choose one move: \\boxed{pass} or \\boxed{bet}.\\boxed{")


def test_legal_moves_are_scored_by_the_endpoints_prompt_logprobs(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=QUICK, moves="legal", greedy=True)
    before = endpoint.posts()
    _, records = kuhn_self_play(player, tmp_path)
    first = records[0]["turns"][0]
    assert first["move"] == "bet"  # three tokens at -1 beat four
    assert endpoint.posts() - before == 2 * len(records[0]["turns"])  # one scoring request per legal move
    endpoint.weights = {"b": 5.0}
    _, records = kuhn_self_play(player, tmp_path)
    assert records[0]["turns"][0]["move"] == "pass"  # "b" now costs 5


def test_without_vllms_extensions_answers_are_written_whole_and_cut_after_the_first_answer(scripted, tmp_path, caplog):
    endpoint = scripted(vllm=False, reply="I choose \\boxed{bet}. Or \\boxed{pass}")
    with caplog.at_level(logging.WARNING, logger="sparring.players.api"):
        player = make_player(endpoint.spec(), api=QUICK, moves="legal")
    notes = [r.getMessage() for r in caplog.records]
    assert sum("falls back to written answers" in n for n in notes) == 1
    assert sum("takes no pre-filled reply" in n for n in notes) == 1
    _, records = kuhn_self_play(player, tmp_path)
    assert records[0]["turns"][0]["text"] == "I choose \\boxed{bet}" and records[0]["turns"][0]["move"] == "bet"
    _, _, body = endpoint.requests[-1]
    assert [m["role"] for m in body["messages"]] == ["user"] and "stop" not in body and "prompt_logprobs" not in body


def test_a_batch_goes_out_concurrently(scripted, tmp_path):
    endpoint = scripted()
    player = make_player(endpoint.spec(), api=ApiConfig(concurrency=8))
    endpoint.script = [slow(0.5)] * 8
    started = time.perf_counter()
    run_arena(make_game("kuhn_poker"), [player, make_player("random")], 8, concurrency=8)
    assert time.perf_counter() - started < 8 * 0.5 / 2  # eight half-second replies, not one after another


# ----------------------------------------------------------------------------- training against a served player


def tiny_run(tmp_path: Path, spec: str) -> list[str]:
    return [f"trainer.run_dir={tmp_path / 'run'}", "trainer.steps=1", "games.names=[kuhn_poker]",
            f"rollout.opponent={spec}", "api.retries=0", "api.timeout=2"]


def test_a_run_trains_against_a_served_opponent(scripted, tmp_path):
    from sparring.config import load_config
    from sparring.training.trainer import train

    endpoint = scripted()
    run = train(load_config(ROOT / "configs" / "tiny_test.yaml", tiny_run(tmp_path, endpoint.spec())))
    seats = {tuple(json.loads(line)["seats"]) for line in (run / "transcripts" / "step_000001.jsonl").read_text().splitlines()}
    assert seats == {("policy", endpoint.spec()), (endpoint.spec(), "policy")} and endpoint.posts() > 1


def test_a_run_stops_in_one_line_when_its_served_opponent_stops_answering(scripted, tmp_path):
    from sparring.config import load_config
    from sparring.training.trainer import train

    endpoint = scripted()
    endpoint.script = [ok] + [status(503, "overloaded")] * 100  # the start-up request, then nothing but 503s
    with pytest.raises(SparringError, match=r"4 matches of step 1 were abandoned \(transport: HTTP 503: overloaded "
                                            r"\(1 try\)\): a served player stopped answering"):
        train(load_config(ROOT / "configs" / "tiny_test.yaml", tiny_run(tmp_path, endpoint.spec())))


def test_the_pool_reaches_a_served_player_with_the_runs_api_section(scripted):
    from sparring.players.api import ApiPlayer
    from sparring.training.pool import OpponentPool

    endpoint = scripted()
    pool = OpponentPool("uniform", fixed=[endpoint.spec()], lm_options={"template": "short", "api": QUICK})
    served = pool._fixed_players[endpoint.spec()]
    assert isinstance(served, ApiPlayer) and served.endpoint.retries == QUICK.retries


# ----------------------------------------------------------------------------- a real server


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`sparring serve default` on a free port: the api: spec that plays it. Stopped (SIGTERM) after the module;
    its weights folder and log go to a pytest temporary folder."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not importable (pip install 'sparring[vllm]'): the served-model tests need its server")
    port = free_port()
    spec = f"api:default@http://127.0.0.1:{port}/v1"
    process = subprocess.Popen([sys.executable, "-m", "sparring", "serve", "default", "--port", str(port)], cwd=ROOT,
                               env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path_factory.mktemp("serve"))},
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    said = []
    for line in process.stdout:  # ends when serve exits: then the assert below shows why
        said.append(line)
        if spec in line:
            break
    assert process.poll() is None, "sparring serve stopped:\n" + "".join(said)
    yield spec
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections may linger; a listener may not
        probe.bind(("127.0.0.1", port))  # the server is gone with it


@pytest.fixture(scope="module")
def default_model():
    from sparring.model import load_model

    return load_model("default")


def test_served_default_plays_the_moves_lm_default_plays(served, default_model, tmp_path):
    from sparring.players.lm import LMPlayer

    for game, matches, moves_mode in (("kuhn_poker", 8, "free"), ("tic_tac_toe", 2, "free"), ("kuhn_poker", 4, "legal")):
        played = {}
        for kind, player in (("api", make_player(served, greedy=True, moves=moves_mode)),
                             ("lm", LMPlayer(*default_model, greedy=True, moves=moves_mode))):
            out = tmp_path / f"{game}_{moves_mode}_{kind}.jsonl"
            result = run_arena(make_game(game), [player, make_player("random", seed=1)], matches, seed=3, transcripts=out)
            assert not result.abandoned
            played[kind] = moves(out)
        assert played["api"] == played["lm"], f"{game} ({moves_mode} moves)"
        assert sum(len(m) for m in played["api"]) >= 2 * matches


def test_eval_takes_a_served_opponent(served, tmp_path):
    assert main(["eval", "default", "--games", "kuhn_poker", "--opponents", "random", served, "--matches", "2",
                 "--no-exploitability", "--no-save", "--out", str(tmp_path)]) == 0
    seats = {path.name: [json.loads(line)["seats"] for line in path.read_text().splitlines()]
             for path in tmp_path.glob("kuhn_poker__*.jsonl")}
    against_served = next(name for name in seats if name.startswith("kuhn_poker__api"))
    assert len(seats) == 2 and sorted(seats[against_served]) == [[served, "lm:default"], ["lm:default", served]]


def test_a_league_ranks_a_served_entry(served):
    from sparring.evaluation.league import LeagueEntry, run_league

    result = run_league([LeagueEntry(served, served), LeagueEntry("random", "random")], "kuhn_poker", matches=2)
    assert result.names == [served, "random"] and result.match_counts() == [2, 2]


def test_the_completions_endpoint_of_vllm_stops_at_the_answer(served, tmp_path):
    player = make_player(served, greedy=True, api=ApiConfig(endpoint="completions"))
    assert player.extensions
    _, records = kuhn_self_play(player, tmp_path)
    assert all(turn["text"].startswith("\\boxed{") for turn in records[0]["turns"])
