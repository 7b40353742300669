"""Learner memory by tokens: the peak memory of one learner step when micro-batches are cut by sample
count alone (`trainer.micro_batch`) against cut by the token budget as well (`trainer.micro_batch_tokens`).

    .venv/bin/python benchmarks/learner_memory.py                    # Leduc-shaped, 64 samples: micro_batch 64, no budget vs the default
    .venv/bin/python benchmarks/learner_memory.py --shape kuhn --samples 256 --cases 256:0 256:default
                                                                     # Kuhn-shaped (kuhn_nash's batch): the budget must not cut it
    .venv/bin/python benchmarks/learner_memory.py --samples 256 --cases 16:0 32:0 64:0   # micro_batch:budget pairs
    .venv/bin/python benchmarks/learner_memory.py --samples 16 --model tiny --cases 16:0 16:2000   # smoke run

Workload (the same for every case): `--samples` turn samples shaped like one step of the shipped
configs under the "short" template, with the uniform magnet on (so each sample's legal answers are
scored in the same pass, as in training):

* leduc: prompts of 212 tokens sharing their first 130 (chat template, system text, rules), every
  prompt its own information state; 3 legal answers of 2 tokens, the completion one of them.
* kuhn: prompts of 145 tokens sharing their first 99, drawn from 12 information states; 2 legal
  answers of 2 tokens, the completion one of them.

Each case runs in its own fresh process, one after the other: SmolLM2-135M with LoRA (the config
defaults), one `Learner.step` of PPO. Printed per case: the micro-batches the step was cut into, the
largest micro-batch's token count (`sparring.logprobs.pass_tokens`), the step's seconds, and the
process's peak RSS after the model loaded and after the step (`ru_maxrss`), so the step's own share is
their difference. The last line is the ratio of the peak RSS of the first case to the last.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {  # prompt length, shared prefix, distinct prompts (0: every sample its own), legal answers, answer length
    "leduc": (212, 130, 0, 3, 2),
    "kuhn": (145, 99, 12, 2, 2),
}


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def samples(shape: str, n: int, vocab: int, seed: int = 0):
    from sparring.training.learner import LearnerSample

    prompt_len, shared, distinct, legal, answer_len = SHAPES[shape]
    rng = random.Random(seed)
    prefix = [rng.randrange(vocab) for _ in range(shared)]
    tails = [[rng.randrange(vocab) for _ in range(prompt_len - shared)] for _ in range(distinct or n)]
    answers = [[rng.randrange(vocab) for _ in range(answer_len)] for _ in range(legal)]
    out = []
    for i in range(n):
        completion = list(rng.choice(answers))  # a legal move, as the answer rows spell it
        out.append(LearnerSample(prompt_ids=prefix + tails[i % len(tails)], completion_ids=completion,
                                 sampling_logprobs=[-1.0] * len(completion), advantage=rng.choice([-1.0, 1.0]),
                                 legal_answers=answers))
    return out


def chunk_tokens(learner, chunk) -> int:
    """The tokens of one micro-batch's pass, counted over the rows the learner runs for it."""
    from sparring.logprobs import PassSize

    size = PassSize(learner.algo.shared_prefix)
    learner._add_rows(size, chunk)
    return size.tokens


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import torch

    from sparring.config import load_config
    from sparring.training.learner import Learner
    from sparring.training.policy import build_policy

    torch.manual_seed(0)
    micro_batch, budget = args.child.split(":")
    overrides = [f"model.name={args.model}", "algo.magnet=uniform", "algo.magnet_coef=1.0", f"trainer.micro_batch={micro_batch}"]
    if budget != "default":
        overrides.append(f"trainer.micro_batch_tokens={budget}")
    cfg = load_config(ROOT / "configs" / "tiny_test.yaml", overrides)
    model, tokenizer = build_policy(cfg.model)
    learner = Learner(model, cfg.algo, cfg.trainer, temperature=1.0, autocast_bf16=False)
    batch = samples(args.shape, args.samples, len(tokenizer))
    loaded = peak_gb()
    chunks = learner._micro_batches(batch)
    started = time.perf_counter()
    learner.step(batch)
    seconds = time.perf_counter() - started
    largest = max(chunk_tokens(learner, chunk) for chunk in chunks)
    print(json.dumps({"case": args.child, "budget": cfg.trainer.micro_batch_tokens, "chunks": len(chunks),
                      "largest_tokens": largest, "seconds": seconds, "loaded_gb": loaded, "peak_gb": peak_gb()}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="leduc")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--model", default="default")
    parser.add_argument("--cases", nargs="+", default=["64:0", "64:default"],
                        help="micro_batch:budget per case; budget 0 = no token budget, 'default' = the config default")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    rows = []
    print(f"{args.shape}-shaped step of {args.samples} samples, model {args.model}, uniform magnet (legal answers in the pass)")
    print(f"{'micro_batch:budget':<20}{'budget':>8}{'chunks':>8}{'largest chunk tokens':>22}{'step s':>9}"
          f"{'RSS loaded GB':>15}{'peak RSS GB':>13}")
    for case in args.cases:
        done = subprocess.run([sys.executable, __file__, "--child", case, "--shape", args.shape,
                               "--samples", str(args.samples), "--model", args.model],
                              capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            print(f"{case:<20} failed (exit {done.returncode}; killed for memory if -9): {tail}")
            rows.append(None)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{case:<20}{row['budget']:>8}{row['chunks']:>8}{row['largest_tokens']:>22}{row['seconds']:>9.1f}"
              f"{row['loaded_gb']:>15.2f}{row['peak_gb']:>13.2f}")
    if len(rows) > 1 and rows[0] and rows[-1]:
        print(f"peak RSS {rows[0]['case']} / {rows[-1]['case']}: {rows[0]['peak_gb'] / rows[-1]['peak_gb']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
