"""Learner throughput: sparring's PPO step (shared-prefix, and its own unshared pass) versus TRL's
GRPOTrainer step, and achieved FLOP/s versus a torch matmul peak measured in the same run.

    .venv/bin/python benchmarks/learner.py          # B=8, P=128, C=32; LoRA and full; fp32 (+ bf16 if native)
    .venv/bin/python benchmarks/learner.py --batch 2 --prompt-len 32 --completion-len 8 --threads 1  # smoke run
    .venv/bin/python benchmarks/learner.py --shared 96 --modes lora    # prompts share their first 96 tokens
    .venv/bin/python benchmarks/learner.py --batch 8 --prompt-len 144 --shared 99 --completion-len 3 --modes lora
                # demo-shaped: Kuhn Poker prompts under the "short" template are 143-145 tokens, all sharing
                # their first 99 (chat template, system text, game, rules); answers are 2-3 tokens
    add --epochs 1,2 for the 2-epoch rows, --dtypes fp32,bf16 to force bf16-autocast rows, --json OUT to save

Workload (identical for every row): B samples, each a prompt of P and a completion of C random token
ids (fixed seed, no padding; with --shared S the first S prompt tokens are the same in every sample, as
the chat template, system text and game rules are in a real step), one fixed nonzero advantage per sample, on SmolLM2-135M-Instruct
(`load_model("default")`, float32 master weights). LoRA: r=16, alpha=32, dropout 0 on q,k,v,o (the
sparring defaults), same init seed in both. Full: every weight trains.

What one "step" is:

* sparring: `Learner.step(samples)` (`algo.shared_prefix=true`, the default: the micro-batch's common
  prompt prefix runs once, with batch 1, and every sample's rest on its key/value cache; "unshared" is the
  same step with `algo.shared_prefix=false`) with `algo.ppo_epochs=k` (headline k=1), `loss=ppo`,
  `aggregation=constant` with `constant_length=C`, no KL, `micro_batch=B` (or --micro-batch): k
  forward+backward passes (the old log-probs come from the learner's own forward before the first
  update), each followed by grad clipping, AdamW and the LR scheduler.
* TRL: `GRPOTrainer.training_step` (TRL's own `compute_loss` -> `_compute_loss`, then
  `accelerator.backward`) on a pre-built batch dict (prompt_ids/prompt_mask/completion_ids/completion_mask/
  advantages), with generation excluded by replacing the trainer's `_prepare_inputs` by the identity; then
  what `Trainer._run_epoch` does after it: `_clip_grad_norm`, `optimizer.step()`, `lr_scheduler.step()`,
  `model.zero_grad()`. GRPOConfig: `beta=0` (no reference model), `num_iterations=k`, `loss_type="dr_grpo"`
  (sum of token losses / (B * max_completion_length), the same normaliser as sparring's "constant"
  aggregation), `epsilon=0.2`, `max_completion_length=C`, `gradient_checkpointing=False`,
  `per_device_train_batch_size=B`, `gradient_accumulation_steps=1` (with --micro-batch m: m and B/m, one
  `training_step` per chunk before the update, as Trainer does), `optim="adamw_torch"` (the same
  `torch.optim.AdamW` sparring uses; TRL's default would be the fused variant), lr 1e-4, constant schedule,
  `max_grad_norm=1.0`, `use_cpu=True`, `bf16` matching. With k=1 TRL does no extra forward (old log-probs =
  current ones detached); with k>1 it computes old log-probs once without grad, as its
  `_generate_and_score_completions` does, by the same `_get_per_token_logps_and_entropies` call; that
  forward is timed as part of its step.

Trained tokens/s = B * (P + C) * k / (wall time of one step), k = forward+backward passes over the batch.
No-grad forwards add time but no trained tokens. Each case warms up, then sparring and TRL steps are
interleaved (so background load hits both alike) and the median step time is reported.

Model FLOPs (what the step must compute; the same count for both libraries, so a library that does extra
work shows it as a lower FLOP/s):
  F = 2 * N_layers_linear * T  +  4 * L * B * S^2 * d  +  2 * V * d * B * C        (one forward)
  with T = B*S tokens, S = P + C, N_layers_linear = linear weights of the decoder layers (embeddings and
  LM head excluded), L layers, d hidden size, the attention term counting QK^T and AV over the full S x S
  square, and the (tied) LM head counted only on the B*C completion positions that are scored.
  LoRA adds F_lora = 2 * N_lora * T (adapter matmuls) to a forward.
  Training pass (forward + backward): full fine-tune 3 * F (backward = activation grads + weight grads);
  LoRA 2 * F + 3 * F_lora (frozen weights need activation grads only).
  A no-grad forward (TRL's old-log-prob pass when k > 1, or any sparring does) counts F (+ F_lora).
  Passes are not assumed: a hook on the decoder counts the forwards each library actually runs in a
  step, with and without grad, and the step's FLOPs are summed from those counts. The shared-prefix
  step runs the batch as a tree (the prefix as one row, each distinct prompt tail, then the
  completions), so its counted rows add up to partial passes (e.g. 2.12); its FLOPs are those of the
  k whole passes of the workload it computes, so its GFLOP/s is the *effective* rate of the unshared
  work and may pass the matmul peak: that is the point of doing less work.
The run prints a first-step check: on the same weights and batch both libraries must report the same
loss and pre-clip gradient norm (they agree to ~1e-6 in fp32), which shows the two steps compute the same
update.

Things that favour one side, kept visible rather than hidden:
* TRL scores log-probs with its fused LM head (`trl.trainer.utils.add_fused_lm_head`). Only on Triton
  devices (cuda/xpu) does it project just the completion positions; on CPU it projects every position
  of every row through the 49152-wide vocabulary in torch tiles (forward, then recomputed in backward)
  and masks afterwards. That is TRL's real CPU path, and at P=128, C=32 it is most of the gap to
  sparring, which asks the model for the completion logits only (`logits_to_keep`). With P small next
  to C the gap shrinks.
* The optimizer is the same class and settings on both sides; TRL's default (`adamw_torch_fused`) would
  be faster on full fine-tuning (`--trl-optim adamw_torch_fused`).
* Background load: with 2 threads on 2 shared cores, one step can take 10x another; `--threads 1`
  is steady under load, the default (all cores) is for a quiet machine.

Matmul peak: best GFLOP/s of torch.matmul over a few shapes (2048^3 and the model's own MLP shapes at
T tokens), several repeats, measured before and after the learner cases; the best of the run is the peak.
"% of peak" divides achieved FLOP/s by the peak of the row's compute dtype (fp32 rows: fp32 peak; bf16
autocast rows: the larger of the fp32 and bf16 peaks, so a CPU without native bf16 is not flattered).
"""

from __future__ import annotations

import os

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparring.config import load_config  # noqa: E402
from sparring.training.learner import Learner, LearnerSample  # noqa: E402
from sparring.model import load_model  # noqa: E402
from sparring.training.policy import build_policy  # noqa: E402

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
LORA_R, LORA_ALPHA = 16, 32
LR, CLIP, MAX_GRAD_NORM = 1e-4, 0.2, 1.0
TARGET_RATIO, TARGET_PEAK, TARGET_UNSHARED = 2.0, 0.5, 1.5


LIBRARIES = ("sparring", "unshared", "trl")
LABELS = {"sparring": "sparring", "unshared": "sp. unshared", "trl": "TRL GRPO"}

# ----------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def matmul_gflops(m: int, k: int, n: int, dtype: torch.dtype, repeats: int, min_time: float = 0.3) -> float:
    """Best GFLOP/s of an [m,k] @ [k,n] matmul over `repeats` timed batches of calls."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g).to(dtype)
    b = torch.randn(k, n, generator=g).to(dtype)
    out = torch.empty(m, n, dtype=dtype)
    start = time.perf_counter()
    torch.matmul(a, b, out=out)  # warm-up
    once = max(time.perf_counter() - start, 1e-6)
    if once > 2.0:  # hopeless shape/dtype (e.g. bf16 without native support): one more call is enough
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        return 2.0 * m * k * n / min(once, time.perf_counter() - start) / 1e9
    calls = max(1, int(min_time / once))
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            torch.matmul(a, b, out=out)
        elapsed = time.perf_counter() - start
        best = max(best, 2.0 * m * k * n * calls / elapsed / 1e9)
    return best


def matmul_peaks(shapes: list[tuple[int, int, int]], dtypes: list[str], repeats: int) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for name in dtypes:
        dtype = torch.float32 if name == "fp32" else torch.bfloat16
        table[name] = {f"{m}x{k}x{n}": matmul_gflops(m, k, n, dtype, repeats) for m, k, n in shapes}
    return table


@dataclass
class Shapes:
    layers: int
    hidden: int
    vocab: int
    n_layer_linear: int  # linear weights inside the decoder layers
    n_lora: int  # adapter weights (0 for full fine-tune)
    n_trainable: int


class PassCounter:
    """Counts the sequences that go through the decoder stack (the LlamaModel inside any PEFT/TRL
    wrappers), split by whether autograd was recording: rows of forward+backward passes versus rows of
    no-grad forwards. Divided by B, these are passes over the batch, whatever the micro-batching."""

    def __init__(self, model, batch: int):
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.batch = batch
        self.rows_grad = self.rows_nograd = 0
        self.handle = inner.base_model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs["inputs_embeds"]
        if torch.is_grad_enabled():
            self.rows_grad += ids.shape[0]
        else:
            self.rows_nograd += ids.shape[0]

    @property
    def grad(self) -> float:
        return self.rows_grad / self.batch

    @property
    def nograd(self) -> float:
        return self.rows_nograd / self.batch

    def reset(self) -> None:
        self.rows_grad = self.rows_nograd = 0


def model_shapes(model) -> Shapes:
    """Parameter counts read off the module tree (LoRA base layers count as frozen linear weights)."""
    cfg = model.config
    n_linear, n_lora = 0, 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or ".layers." not in f".{name}":
            continue
        if "lora_" in name:
            n_lora += module.weight.numel()
        else:
            n_linear += module.weight.numel()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Shapes(cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size, n_linear, n_lora, trainable)


def step_flops(sh: Shapes, batch: int, prompt: int, completion: int, lora: bool, passes: float, nograd: float) -> float:
    """Model FLOPs of one step: `nograd` no-grad forwards plus `passes` forward+backward passes."""
    seq = prompt + completion
    tokens = batch * seq
    fwd = (2.0 * sh.n_layer_linear * tokens
           + 4.0 * sh.layers * batch * seq * seq * sh.hidden
           + 2.0 * sh.vocab * sh.hidden * batch * completion)
    fwd_lora = 2.0 * sh.n_lora * tokens
    train = (2.0 * fwd + 3.0 * fwd_lora) if lora else 3.0 * fwd
    return nograd * (fwd + fwd_lora) + passes * train


def workload(batch: int, prompt: int, completion: int, vocab: int, seed: int, shared: int = 0):
    g = torch.Generator().manual_seed(seed)
    low = 16  # keep clear of the special tokens at the start of the vocabulary
    prompt_ids = torch.randint(low, vocab, (batch, prompt), generator=g)
    prompt_ids[:, :shared] = prompt_ids[0, :shared]
    completion_ids = torch.randint(low, vocab, (batch, completion), generator=g)
    # Fixed, nonzero, not summing to zero (so the first-step loss is nonzero and comparable).
    advantages = torch.tensor([(1.0 if i % 2 == 0 else -0.5) * (1 + i / batch) for i in range(batch)])
    return prompt_ids, completion_ids, advantages


# ----------------------------------------------------------------------------- the two steppers


class SparringStep:
    def __init__(self, lora: bool, bf16: bool, epochs: int, batch: int, data, model_name: str, micro_batch: int,
                 shared_prefix: bool = True):
        self.name = "sparring" if shared_prefix else "unshared"
        prompt_ids, completion_ids, advantages = data
        completion = completion_ids.shape[1]
        cfg = load_config(None, [
            f"model.name={model_name}", f"model.lora={str(lora).lower()}", f"model.lora_r={LORA_R}",
            f"model.lora_alpha={LORA_ALPHA}", "model.lora_dropout=0.0",
            f"model.dtype={'bfloat16' if bf16 else 'float32'}",
            "algo.loss=ppo", f"algo.clip={CLIP}", f"algo.ppo_epochs={epochs}", "algo.kl_coef=0.0",
            "algo.aggregation=constant", f"algo.constant_length={completion}",
            f"trainer.lr={LR}", "trainer.weight_decay=0.0", f"trainer.max_grad_norm={MAX_GRAD_NORM}",
            f"trainer.micro_batch={micro_batch}", "trainer.warmup_steps=0",
            f"algo.shared_prefix={str(shared_prefix).lower()}", "algo.is_cap=0",
        ])
        torch.manual_seed(0)  # same LoRA init as the TRL side
        self.model, tokenizer = build_policy(cfg.model)
        self.learner = Learner(self.model, cfg.algo, cfg.trainer, temperature=1.0, autocast_bf16=bf16)
        self.samples = [
            LearnerSample(prompt_ids=prompt_ids[i].tolist(), completion_ids=completion_ids[i].tolist(),
                          sampling_logprobs=[0.0] * completion, advantage=float(advantages[i]))
            for i in range(batch)
        ]
        self.first: dict[str, float] | None = None
        self.counter = PassCounter(self.model, batch)

    def step(self) -> None:
        stats = self.learner.step(self.samples)
        if self.first is None:
            self.first = {"loss": stats["loss"], "grad_norm": stats["grad_norm"]}


class TRLStep:
    name = "trl"

    def __init__(self, lora: bool, bf16: bool, epochs: int, batch: int, data, model_name: str, out_dir: str,
                 optim: str = "adamw_torch", micro_batch: int = 0):
        from datasets import Dataset
        from peft import LoraConfig
        from trl import GRPOConfig, GRPOTrainer

        prompt_ids, completion_ids, advantages = data
        completion = completion_ids.shape[1]
        self.epochs = epochs
        self.micro = micro_batch or batch
        accumulation = batch // self.micro
        model, tokenizer = load_model(model_name)
        model.train()
        args = GRPOConfig(
            output_dir=out_dir, use_cpu=True, bf16=bf16, fp16=False, gradient_checkpointing=False,
            per_device_train_batch_size=self.micro, gradient_accumulation_steps=accumulation, num_generations=batch,
            max_completion_length=completion, beta=0.0, num_iterations=epochs, loss_type="dr_grpo",
            epsilon=CLIP, temperature=1.0, learning_rate=LR, weight_decay=0.0, max_grad_norm=MAX_GRAD_NORM,
            optim=optim, lr_scheduler_type="constant", warmup_steps=0, report_to="none",
            logging_steps=10**9, save_strategy="no", seed=0, disable_dropout=True,
        )
        peft_config = None
        if lora:
            peft_config = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0,
                                     target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")

        def zero_reward(completions, **kwargs):
            return [0.0] * len(completions)

        threads = torch.get_num_threads()
        torch.manual_seed(0)  # same LoRA init as the sparring side
        self.trainer = GRPOTrainer(model=model, reward_funcs=zero_reward, args=args,
                                   train_dataset=Dataset.from_dict({"prompt": ["hi"] * batch}),
                                   processing_class=tokenizer, peft_config=peft_config)
        torch.set_num_threads(threads)  # in case anything in the stack changed it
        tr = self.trainer
        tr.create_optimizer_and_scheduler(num_training_steps=10**6)
        tr._prepare_inputs = lambda inputs: inputs  # generation excluded: the batch below is the step's input
        tr.current_gradient_accumulation_steps = accumulation
        self.model = tr.model
        self.inputs = {
            "prompt_ids": prompt_ids.clone(), "prompt_mask": torch.ones_like(prompt_ids),
            "completion_ids": completion_ids.clone(), "completion_mask": torch.ones_like(completion_ids),
            "advantages": advantages.clone(),
        }
        self.first: dict[str, float] | None = None
        self.counter = PassCounter(self.model, batch)

    def _update(self, inputs) -> tuple[float, float]:
        """One optimiser update: training_step per micro-batch (gradients accumulate), then what
        Trainer._run_epoch does at a sync step."""
        tr = self.trainer
        loss = 0.0
        for start in range(0, len(inputs["advantages"]), self.micro):
            chunk = {k: v[start:start + self.micro] for k, v in inputs.items()}
            loss += float(tr.training_step(self.model, chunk, None))
        grad_norm = tr._clip_grad_norm(self.model)
        tr.optimizer.step()
        tr.lr_scheduler.step()
        self.model.zero_grad()
        return loss, float(grad_norm)

    def step(self) -> None:
        inputs = self.inputs
        if self.epochs > 1:  # what _generate_and_score_completions does when num_iterations > 1
            with torch.no_grad():
                ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
                mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
                old, _, _ = self.trainer._get_per_token_logps_and_entropies(
                    self.model, ids, mask, inputs["completion_ids"].shape[1], batch_size=self.micro)
            inputs = {**inputs, "old_per_token_logps": old}
        parts = [self._update(inputs) for _ in range(self.epochs)]
        if self.first is None:  # averaged over epochs, as sparring's Learner.step reports them
            self.first = {"loss": sum(p[0] for p in parts) / len(parts),
                          "grad_norm": sum(p[1] for p in parts) / len(parts)}


# ----------------------------------------------------------------------------- the run


@dataclass
class Row:
    library: str
    mode: str
    dtype: str
    epochs: int
    times: list[float] = field(default_factory=list)
    step_s: float = 0.0
    tokens_per_s: float = 0.0
    gflops: float = 0.0
    peak_fraction: float = 0.0
    ratio_vs_trl: float | None = None
    ratio_vs_unshared: float | None = None
    first_loss: float | None = None
    first_grad_norm: float | None = None
    grad_passes: float | None = None  # forward(+backward) passes over the batch per step, counted
    nograd_passes: float | None = None  # no-grad forwards over the batch per step, counted
    error: str | None = None


def run_case(mode: str, dtype: str, epochs: int, args, data, sh_cache: dict) -> list[Row]:
    lora, bf16 = mode == "lora", dtype == "bf16"
    batch, prompt, completion = args.batch, args.prompt_len, args.completion_len
    rows = {lib: Row(lib, mode, dtype, epochs) for lib in LIBRARIES}
    steppers = []
    log(f"[{mode} {dtype} k={epochs}] building sparring learners (shared prefix, unshared)")
    for shared in (True, False):
        steppers.append(SparringStep(lora, bf16, epochs, batch, data, args.model, args.micro_batch or batch, shared))
    sh_cache[mode] = model_shapes(steppers[0].model)
    if not args.skip_trl:
        log(f"[{mode} {dtype} k={epochs}] building TRL GRPOTrainer")
        try:
            steppers.append(TRLStep(lora, bf16, epochs, batch, data, args.model, args.trl_output_dir,
                                    args.trl_optim, args.micro_batch or batch))
        except Exception as exc:  # report precisely, keep the sparring numbers
            rows["trl"].error = f"{type(exc).__name__}: {exc}"
            log(f"  TRL setup failed: {rows['trl'].error}")
    for r in range(args.warmup + args.repeats):
        for s in steppers:
            if rows[s.name].error:
                continue
            try:
                s.counter.reset()
                start = time.perf_counter()
                s.step()
                elapsed = time.perf_counter() - start
                passes = (s.counter.grad, s.counter.nograd)
            except Exception as exc:
                rows[s.name].error = f"{type(exc).__name__}: {exc}"
                log(f"  {s.name} step failed: {rows[s.name].error}")
                continue
            phase = "warm-up" if r < args.warmup else "timed"
            log(f"  {s.name:8s} {phase} step {r + 1}: {elapsed:.3f} s")
            if r >= args.warmup:
                row = rows[s.name]
                if row.grad_passes is not None and (row.grad_passes, row.nograd_passes) != passes:
                    log(f"  warning: {s.name} ran {passes} (grad, no-grad) forwards, "
                        f"earlier steps {row.grad_passes, row.nograd_passes}")
                row.grad_passes, row.nograd_passes = passes
                row.times.append(elapsed)
    for s in steppers:
        if s.first:
            rows[s.name].first_loss = s.first["loss"]
            rows[s.name].first_grad_norm = s.first["grad_norm"]
    del steppers
    gc.collect()
    return list(rows.values())


def fill(row: Row, args, sh: Shapes, peaks: dict[str, float]) -> None:
    if not row.times:
        return
    batch, prompt, completion = args.batch, args.prompt_len, args.completion_len
    row.step_s = statistics.median(row.times)
    row.tokens_per_s = batch * (prompt + completion) * row.epochs / row.step_s
    # The shared-prefix step runs the batch as a tree (prefix, distinct prompt tails, completions: its
    # counted passes are partial ones); its FLOPs are those of the k whole passes it stands for.
    passes = row.epochs if row.library == "sparring" else row.grad_passes
    flops = step_flops(sh, batch, prompt, completion, row.mode == "lora", passes, row.nograd_passes)
    row.gflops = flops / row.step_s / 1e9
    peak = peaks["fp32"] if row.dtype == "fp32" else max(peaks.values())
    row.peak_fraction = row.gflops / peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="samples per step (B)")
    parser.add_argument("--prompt-len", type=int, default=128, help="prompt tokens per sample (P)")
    parser.add_argument("--completion-len", type=int, default=32, help="completion tokens per sample (C)")
    parser.add_argument("--shared", type=int, default=0, help="prompt tokens every sample shares at its start (S <= P)")
    parser.add_argument("--micro-batch", type=int, default=0,
                        help="samples per forward/backward, gradients accumulated over B / micro-batch chunks "
                             "(sparring trainer.micro_batch; TRL per_device_train_batch_size with "
                             "gradient_accumulation_steps); 0 = B, one chunk")
    parser.add_argument("--modes", default="lora,full", help="comma list of lora, full")
    parser.add_argument("--dtypes", default="auto",
                        help="comma list of fp32, bf16 (bf16 = autocast, fp32 master weights); "
                             "auto = fp32, plus bf16 when the CPU has native bf16 (avx512_bf16 / amx_bf16)")
    parser.add_argument("--epochs", default="1", help="comma list of PPO epochs / GRPO num_iterations (headline: 1)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per library and case")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per library and case (median reported)")
    parser.add_argument("--matmul-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0 = torch default = all cores); on a machine busy with other work "
                             "--threads 1 gives far steadier numbers (2 lock-stepped threads on 2 shared cores "
                             "swing 10x from step to step)")
    parser.add_argument("--model", default="default", help="sparring model name (default = SmolLM2-135M-Instruct)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-trl", action="store_true", help="time sparring only")
    parser.add_argument("--trl-optim", default="adamw_torch",
                        help="GRPOConfig.optim; adamw_torch = the same torch AdamW sparring uses (fair default); "
                             "TRL's own default is adamw_torch_fused")
    parser.add_argument("--trl-output-dir", default="/tmp/sparring-bench-trl",
                        help="GRPOConfig.output_dir (nothing is saved)")
    parser.add_argument("--json", dest="json_out", help="also write all numbers to this JSON file")
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    for name in ("trl", "peft", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging
        hf_logging.set_verbosity_error()
    except Exception:
        pass
    if args.batch < 2 and not args.skip_trl:
        parser.error("--batch must be >= 2: GRPOTrainer needs num_generations >= 2 (or pass --skip-trl)")
    if args.micro_batch and args.batch % args.micro_batch:
        parser.error("--micro-batch must divide --batch")
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    flags = cpu_flags()
    native_bf16 = bool({"avx512_bf16", "amx_bf16"} & flags)
    if args.dtypes == "auto":
        dtypes = ["fp32", "bf16"] if native_bf16 else ["fp32"]
    else:
        dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    epochs_list = [int(e) for e in args.epochs.split(",") if e.strip()]
    for m in modes:
        if m not in ("lora", "full"):
            parser.error(f"--modes: unknown mode {m!r}")
    for d in dtypes:
        if d not in ("fp32", "bf16"):
            parser.error(f"--dtypes: unknown dtype {d!r}")

    bf16_flags = sorted(f for f in flags if "bf16" in f or f.startswith("amx"))
    versions = {"torch": torch.__version__}
    for pkg in ("transformers", "trl", "peft", "accelerate"):
        with contextlib.suppress(Exception):
            versions[pkg] = __import__(pkg).__version__
    print(f"CPU: {cpu_name()}; torch threads {torch.get_num_threads()}; os.cpu_count {os.cpu_count()}")
    print(f"native bf16 flags (avx512_bf16/amx*): {', '.join(bf16_flags) or 'none'}; "
          f"avx512f: {'yes' if 'avx512f' in flags else 'no'}; avx2: {'yes' if 'avx2' in flags else 'no'}")
    if "bf16" not in dtypes and args.dtypes == "auto":
        print("bf16 autocast rows skipped: no native bf16 on this CPU (force them with --dtypes fp32,bf16)")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    with contextlib.suppress(OSError):
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    batch, prompt, completion = args.batch, args.prompt_len, args.completion_len
    print(f"TRL optimizer: {args.trl_optim}; sparring optimizer: torch.optim.AdamW as sparring builds it")
    print(f"workload: B={batch} samples x (P={prompt} prompt + C={completion} completion) tokens, "
          f"micro-batch {args.micro_batch or batch}; warm-up {args.warmup}, median of {args.repeats} timed steps")

    probe, tokenizer = load_model(args.model)
    vocab = min(probe.config.vocab_size, len(tokenizer))
    hidden, ffn = probe.config.hidden_size, probe.config.intermediate_size
    del probe, tokenizer
    gc.collect()
    tokens = batch * (prompt + completion)
    shapes = [(2048, 2048, 2048), (tokens, hidden, ffn), (tokens, ffn, hidden)]
    peak_dtypes = sorted(set(["fp32"] + dtypes))
    # Matmul peak, part 1 (before the learner cases).
    log("measuring matmul peak (before)")
    before = matmul_peaks(shapes, peak_dtypes, args.matmul_repeats)

    data = workload(batch, prompt, completion, vocab, args.seed, args.shared)
    results: list[Row] = []
    sh_cache: dict[str, Shapes] = {}
    for epochs in epochs_list:
        for dtype in dtypes:
            for mode in modes:
                results += run_case(mode, dtype, epochs, args, data, sh_cache)

    log("measuring matmul peak (after)")
    after = matmul_peaks(shapes, peak_dtypes, args.matmul_repeats)
    per_shape = {d: {k: max(before[d][k], after[d][k]) for k in before[d]} for d in peak_dtypes}
    peaks = {d: max(per_shape[d].values()) for d in peak_dtypes}

    for row in results:
        if row.mode in sh_cache:
            fill(row, args, sh_cache[row.mode], peaks)
    for row in results:
        if row.library == "trl":
            continue
        key = (row.mode, row.dtype, row.epochs)
        trl = next((r for r in results if r.library == "trl" and (r.mode, r.dtype, r.epochs) == key), None)
        if trl and trl.step_s and row.step_s:
            row.ratio_vs_trl = trl.step_s / row.step_s  # = sparring tok/s / TRL tok/s (same tokens)
        plain = next((r for r in results if r.library == "unshared" and (r.mode, r.dtype, r.epochs) == key), None)
        if row.library == "sparring" and plain and plain.step_s and row.step_s:
            row.ratio_vs_unshared = plain.step_s / row.step_s

    print()
    print("matmul peak, GFLOP/s (best of before/after, each best of repeats):")
    for d in peak_dtypes:
        print(f"  {d}: " + ", ".join(f"{k} {v:.1f}" for k, v in per_shape[d].items()) + f"  -> peak {peaks[d]:.1f}")
    for mode, sh in sh_cache.items():
        print(f"model ({mode}): {sh.layers} layers, d={sh.hidden}, V={sh.vocab}, decoder-layer linear weights "
              f"{sh.n_layer_linear / 1e6:.2f}M, LoRA weights {sh.n_lora / 1e6:.2f}M, "
              f"trainable {sh.n_trainable / 1e6:.2f}M")
    print()
    print("trained tok/s = B*(P+C)*k / step time, k = forward+backward passes per step "
          "(sparring ppo_epochs, TRL num_iterations); no-grad forwards add time only.")
    print("GFLOP/s = model FLOPs of the forward(+backward) passes the step ran (counted by a hook; formula in "
          "this file's docstring) / step time; fwd = passes with grad + no-grad forwards.")
    print("ratio = TRL step time / sparring step time (same mode, dtype, k).")
    header = (f"{'row':<24}{'k':>3}{'fwd':>9}{'step s':>10}{'trained tok/s':>15}{'GFLOP/s':>10}"
              f"{'% peak':>8}{'vs TRL':>8}")
    for epochs in epochs_list:
        for dtype in dtypes:
            print()
            print(f"dtype {dtype}{' (autocast, fp32 master weights)' if dtype == 'bf16' else ''}, k={epochs}")
            print(header)
            print("-" * len(header))
            for lib in LIBRARIES:
                for mode in modes:
                    key = (lib, mode, dtype, epochs)
                    row = next(r for r in results if (r.library, r.mode, r.dtype, r.epochs) == key)
                    label = f"{LABELS[lib]} {'LoRA' if mode == 'lora' else 'full'}"
                    if row.error or not row.times:
                        why = "skipped (--skip-trl)" if lib == "trl" and args.skip_trl else f"failed: {row.error}"
                        print(f"{label:<24}{epochs:>3}   {why}")
                        continue
                    ratio = f"{row.ratio_vs_trl:.2f}x" if row.ratio_vs_trl else "-"
                    fwd = f"{row.grad_passes:.3g}+{row.nograd_passes:.3g}"
                    print(f"{label:<24}{epochs:>3}{fwd:>9}{row.step_s:>10.3f}{row.tokens_per_s:>15.1f}"
                          f"{row.gflops:>10.1f}"
                          f"{100 * row.peak_fraction:>7.1f}%{ratio:>8}")

    print()
    print("first-step check (same weights, same batch: loss and pre-clip grad norm, averaged over the k "
          "updates of the first step, should agree):")
    for row in results:
        if row.first_loss is not None:
            print(f"  {row.library:8s} {row.mode:4s} {row.dtype} k={row.epochs}: loss {row.first_loss:+.6f}, "
                  f"grad norm {row.first_grad_norm:.6f}")

    print()
    print(f"headline (targets: >= {TARGET_RATIO}x TRL, >= {TARGET_UNSHARED}x sparring unshared, "
          f">= {100 * TARGET_PEAK:.0f}% of measured matmul peak); "
          "each library at its faster dtype, k = " + str(epochs_list[0]) + ":")
    headline = {}
    for mode in modes:
        cands = {lib: [r for r in results
                       if r.library == lib and r.mode == mode and r.epochs == epochs_list[0] and r.step_s]
                 for lib in ("sparring", "trl")}
        best_s = min(cands["sparring"], key=lambda r: r.step_s, default=None)
        best_t = min(cands["trl"], key=lambda r: r.step_s, default=None)
        if best_s is None:
            continue
        line = (f"  {mode:4s}: sparring {best_s.dtype} {best_s.tokens_per_s:.1f} tok/s, "
                f"{100 * best_s.peak_fraction:.1f}% of peak")
        verdict = {"peak_ok": best_s.peak_fraction >= TARGET_PEAK}
        if best_t is not None:
            ratio = best_t.step_s / best_s.step_s
            line += f"; TRL {best_t.dtype} {best_t.tokens_per_s:.1f} tok/s; ratio {ratio:.2f}x"
            verdict.update(ratio=ratio, ratio_ok=ratio >= TARGET_RATIO)
            line += f" [{'meets' if ratio >= TARGET_RATIO else 'misses'} {TARGET_RATIO}x]"
        if best_s.ratio_vs_unshared:
            verdict.update(ratio_unshared=best_s.ratio_vs_unshared,
                           unshared_ok=best_s.ratio_vs_unshared >= TARGET_UNSHARED)
            line += (f"; vs unshared {best_s.ratio_vs_unshared:.2f}x "
                     f"[{'meets' if verdict['unshared_ok'] else 'misses'} {TARGET_UNSHARED}x]")
        line += f" [{'meets' if verdict['peak_ok'] else 'misses'} {100 * TARGET_PEAK:.0f}% of peak]"
        headline[mode] = {"sparring": asdict(best_s), "trl": asdict(best_t) if best_t else None, **verdict}
        print(line)
    with contextlib.suppress(OSError):
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    if args.json_out:
        out = {
            "args": vars(args), "versions": versions, "cpu": cpu_name(), "bf16_flags": bf16_flags,
            "threads": torch.get_num_threads(), "matmul_gflops": per_shape, "matmul_peak_gflops": peaks,
            "shapes": {m: asdict(s) for m, s in sh_cache.items()}, "rows": [asdict(r) for r in results],
            "headline": headline,
        }
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
