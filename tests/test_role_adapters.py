"""Per-role LoRA adapters (model.adapters_per_role): each role its own adapter and optimiser, saved and resumed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sparring.checkpoint import load_trainer_state
from sparring.config import ConfigError, load_config
from sparring.training.algorithms.policy_gradient import TokenObjective
from sparring.training.metrics import read_metrics
from sparring.training.learner import LearnerSample
from sparring.training.policy import build_policy
from sparring.training.role_adapters import RoleLearners
from sparring.training.trainer import train

CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"
ROLES = ("player_0", "player_1")  # tic_tac_toe's


def per_role_cfg(tmp_path, *overrides):
    return load_config(CONFIG, [f"trainer.run_dir={tmp_path / 'run'}", "model.adapters_per_role=true", *overrides])


def saved_adapter(checkpoint: Path, role: str) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "model" / role / "adapter_model.safetensors"))


def test_after_a_step_each_role_adapter_moved_from_init_and_they_differ(tmp_path):
    cfg = per_role_cfg(tmp_path)
    torch.manual_seed(0)
    model, _ = build_policy(cfg.model, None, ROLES)
    learner = RoleLearners(model, cfg.algo, cfg.trainer, 1.0, autocast_bf16=False, roles=list(ROLES))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = [LearnerSample([1, 2, 3], [4, 5], [-1.0, -1.0], a, role=role)
             for a, role in zip((1.0, -1.0, 0.5, -0.5), ["player_0", "player_1", "player_0", "player_1"])]
    objective = TokenObjective(cfg.algo)
    stats = learner.step(batch, 1, objective=objective)
    assert stats["skipped/player_0"] == stats["skipped/player_1"] == 0.0
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    for role in ROLES:  # each adapter moved, its lora_B from zero included
        assert any(f"lora_B.{role}." in n for n in changed) and any(f"lora_A.{role}." in n for n in changed)
    weights = {role: {n.replace(f".{role}.", "."): p for n, p in model.named_parameters() if f".{role}." in n}
               for role in ROLES}
    assert all(not torch.equal(weights["player_0"][n], weights["player_1"][n]) for n in weights["player_0"])
    # its own optimiser: a role without samples this step keeps its weights and its optimiser state
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if ".player_1." in n}
    learner.step(batch[:1], 2, objective=objective)
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if ".player_1." in n)
    epochs = cfg.algo.ppo_epochs
    assert learner.learners["player_0"].updates == 2 * epochs and learner.learners["player_1"].updates == epochs


def test_a_run_trains_its_role_adapters_and_saves_each(tmp_path):
    run = train(per_role_cfg(tmp_path, "trainer.steps=1"))
    checkpoint = run / "checkpoints" / "step_000001"
    assert all((checkpoint / "model" / role / "adapter_model.safetensors").is_file() for role in ROLES)
    assert set(load_trainer_state(checkpoint)["learner"]) == set(ROLES)  # an optimiser state per role
    # each role's adapter is a model of its own (lm:PATH/model/ROLE); the folder of all of them is a one-line error
    from sparring.errors import SparringError
    from sparring.model import load_model

    trained = [role for role in ROLES if f"loss/{role}" in read_metrics(run)[0]]
    assert trained
    loaded, _ = load_model(str(checkpoint / "model" / trained[0]))
    saved = saved_adapter(checkpoint, trained[0])
    lora = {n: p for n, p in loaded.named_parameters() if "lora_B" in n}
    assert lora and any(p.detach().abs().max().item() > 0 for p in lora.values())  # trained, not the zero init
    assert all(any(torch.equal(p, w) for w in saved.values()) for p in lora.values())
    with pytest.raises(SparringError, match="one adapter per role \\(player_0, player_1\\): name one"):
        load_model(str(checkpoint / "model"))
    assert "loss/player_0" in read_metrics(run)[0]


def test_resuming_reproduces_the_run_exactly(tmp_path):
    # Against a random opponent the policy sits in either seat, so both roles train at every step (in
    # self-play the tiny model's first move is invalid and player_1 never plays): each role's optimiser
    # state matters after the resume.
    cfg = per_role_cfg(tmp_path, "trainer.steps=3", "trainer.keep_checkpoints=3", "rollout.opponent=random")
    run = train(cfg)
    reference = read_metrics(run)
    assert all(f"loss/{role}" in m for m in reference for role in ROLES)
    final = {role: saved_adapter(run / "checkpoints" / "step_000003", role) for role in ROLES}
    shutil.rmtree(run / "checkpoints" / "step_000003")  # as if killed after step 2's checkpoint
    train(cfg, resume=True)
    timing = ("wall_time", "rollout_tokens_per_s", "rollout_turns_per_s", "trained_turns_per_s")

    def comparable(metrics):
        return [{k: v for k, v in m.items() if k not in timing and "time/" not in k and "tokens_per_s" not in k}
                for m in metrics]

    assert comparable(read_metrics(run)) == comparable(reference)
    for role in ROLES:
        again = saved_adapter(run / "checkpoints" / "step_000003", role)
        assert all(torch.equal(again[k], final[role][k]) for k in final[role])


@pytest.mark.parametrize("override, named", [("model.lora=false", "model.lora=false"),
                                             ("pool.rule=uniform", "pool.rule=uniform"),
                                             ("rollout.backend=vllm", "rollout.backend=vllm"),
                                             ("trainer.average_decay=0.5", "trainer.average_decay")])
def test_settings_it_cannot_support_are_one_line_errors(override, named):
    with pytest.raises(ConfigError, match="adapters_per_role") as err:
        load_config(CONFIG, ["model.adapters_per_role=true", override])
    assert named in str(err.value) and "\n" not in str(err.value)
