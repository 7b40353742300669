"""Task games in the trainer: per-attempt trajectories, task labels, the buffer in checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from sparring.checkpoint import latest_checkpoint, load_trainer_state
from sparring.config import load_config
from sparring.games.task_games import IDENTITY, TaskGame, TaskSettings
from sparring.players.rollout import MatchSpec, PlayedMatch
from sparring.training.metrics import read_metrics
from sparring.training.algorithms.policy_gradient import turn_samples
from sparring.training.trainer import train

CONFIG = Path(__file__).parents[1] / "configs" / "propose_solve.yaml"
LM = {"prompt_ids": [1, 2], "completion_ids": [3], "logprobs": [-0.5]}  # what an LM turn carries


def played_deduction_match(game):
    match = game.new_match(seed=0)
    match.submit("\\boxed{def f(x):\n    return x + 1\n>>> f(1)}", **LM)
    for answer in ("2", "2", "3", "no box"):
        match.submit("\\boxed{" + answer + "}" if answer != "no box" else answer, **LM)
    return PlayedMatch(MatchSpec(game, [None, None], 0, match.rules, {"learning_seats": [0, 1], "group": 0}), match)


def test_each_solver_attempt_is_its_own_trajectory_with_its_reward_and_task(tmp_path):
    game = TaskGame(TaskSettings(task_types=("deduction",), attempts=4, workers=1))
    samples, tokens = turn_samples([played_deduction_match(game)])
    by_role = {role: [s for s in samples if s.role == role] for role in ("proposer", "solver")}
    assert [s.seat_return for s in by_role["proposer"]] == [0.5]  # learnability: 2 of 4 right
    assert [s.seat_return for s in by_role["solver"]] == [1.0, 1.0, 0.0, -1.0]
    assert len({(s.match_id, s.role) for s in samples}) == 5 and all(s.task == "deduction" for s in samples)
    assert all(s.reward == s.seat_return and s.turn_index == 0 for s in samples)
    assert set(tokens) == {(s.match_id, s.role, 0) for s in samples}


def test_a_tiny_propose_solve_run_logs_task_metrics_and_checkpoints_the_buffer(tmp_path):
    cfg = load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", "model.name=tiny", "model.lora_r=4",
                               "trainer.steps=2", "trainer.save_every=2", "rollout.turns_per_step=6",
                               "rollout.concurrency=4", "rollout.max_new_tokens=8", "tasks.attempts=2"])
    run = train(cfg)
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["propose_solve/buffer_size"] >= 1 and 0 <= m["propose_solve/proposal_valid_rate"] <= 1
    state = load_trainer_state(latest_checkpoint(run))
    tasks = state["games"]["propose_solve"]["buffer"]["tasks"]
    assert tasks[-1] == IDENTITY.to_dict()
