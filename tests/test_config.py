import dataclasses

import pytest

from sparring.config import (
    Config,
    ConfigError,
    config_reference,
    config_to_dict,
    load_config,
    save_config,
)


def write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def error(path, overrides):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_without_file():
    cfg = load_config(None, [])
    assert cfg == Config()
    assert cfg.model.lora_targets == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert cfg.algo.dual_clip is None


def test_yaml_nested_values(tmp_path):
    path = write(
        tmp_path,
        """
model:
  name: tiny
  lora_r: 4
games:
  names: [kuhn_poker, tic_tac_toe]
  answer_format: bracket
trainer:
  lr: 1e-5          # YAML 1.1 reads this as a string; a float field accepts it
  weight_decay: 1
algo:
  dual_clip: 3.0
""",
    )
    cfg = load_config(path, [])
    assert cfg.model.name == "tiny" and cfg.model.lora_r == 4
    assert cfg.model.lora is True  # untouched fields keep their defaults
    assert cfg.games.names == ["kuhn_poker", "tic_tac_toe"]
    assert cfg.games.answer_format == "bracket"
    assert cfg.trainer.lr == 1e-5 and isinstance(cfg.trainer.lr, float)
    assert cfg.trainer.weight_decay == 1.0 and isinstance(cfg.trainer.weight_decay, float)
    assert cfg.algo.dual_clip == 3.0


def test_overrides(tmp_path):
    path = write(tmp_path, "trainer:\n  lr: 0.1\n  steps: 3\n")
    cfg = load_config(
        path,
        [
            "trainer.lr=1e-5",
            "trainer.steps=7",
            "model.lora=false",
            "pool.fixed=[random, cfr]",
            "algo.advantage=grpo",
            "rollout.group_size=2",
            "algo.dual_clip=3",
            "trainer.run_dir=2024",  # a string field keeps the text as written
        ],
    )
    assert cfg.trainer.lr == 1e-5
    assert cfg.trainer.steps == 7
    assert cfg.model.lora is False
    assert cfg.pool.fixed == ["random", "cfr"]
    assert cfg.algo.advantage == "grpo"
    assert cfg.algo.dual_clip == 3.0
    assert cfg.trainer.run_dir == "2024"
    assert load_config(None, ["algo.dual_clip=null"]).algo.dual_clip is None


def test_unknown_field_names_path_and_suggests():
    message = error(None, ["trainer.lrr=1e-5"])
    assert message == "unknown config field 'trainer.lrr' (did you mean 'trainer.lr'?)"
    assert error(None, ["traner.lr=1"]) == "unknown config field 'traner' (did you mean 'trainer'?)"


def test_unknown_field_in_yaml(tmp_path):
    path = write(tmp_path, "rollout:\n  temprature: 0.7\n")
    message = error(path, [])
    assert message == "unknown config field 'rollout.temprature' (did you mean 'rollout.temperature'?)"


def test_wrong_type():
    assert error(None, ["trainer.lr=abc"]) == "config field 'trainer.lr' expects float, got 'abc'"
    assert error(None, ["trainer.steps=2.5"]) == "config field 'trainer.steps' expects int, got 2.5"
    assert error(None, ["model.lora=1"]) == "config field 'model.lora' expects bool, got 1"
    assert "'games.names'" in error(None, ["games.names=kuhn_poker"])
    assert "'games.names[1]'" in error(None, ["games.names=[a, 3]"])
    assert "'trainer'" in error(None, ["trainer=5"])


def test_bad_literal():
    message = error(None, ["games.answer_format=x"])
    assert message == "config field 'games.answer_format' must be one of 'boxed', 'bracket', got 'x'"


def test_bad_override_and_missing_file(tmp_path):
    assert "section.field=value" in error(None, ["trainer.lr"])
    missing = str(tmp_path / "nope.yaml")
    assert error(missing, []) == f"config file not found: {missing}"


def test_save_load_round_trip(tmp_path):
    cfg = load_config(
        None,
        ["trainer.lr=3e-6", "algo.dual_clip=2.5", "pool.fixed=[random]", "model.dtype=float32", "games.names=[a, b]"],
    )
    path = tmp_path / "out" / "config.yaml"
    save_config(cfg, path)
    again = load_config(str(path), [])
    assert again == cfg
    assert config_to_dict(again) == config_to_dict(cfg)


def test_reference_lists_every_field():
    text = config_reference()
    for section in dataclasses.fields(Config):
        assert f"`{section.name}`" in text
        if not dataclasses.is_dataclass(getattr(Config(), section.name)):  # a top-level field (runner)
            assert f"| `{section.name}` |" in text and section.metadata["doc"]
            continue
        for f in dataclasses.fields(type(getattr(Config(), section.name))):
            assert f"| `{f.name}` |" in text
            assert f.metadata["doc"]


def test_every_shipped_config_loads():
    from pathlib import Path

    shipped = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert {p.name for p in shipped} >= {"kuhn_poker.yaml", "tic_tac_toe.yaml", "multi_game.yaml", "spiral_gpu.yaml"}
    for path in shipped:
        load_config(path)


def test_grpo_without_groups_is_a_one_line_error():
    with pytest.raises(ConfigError, match="set rollout.group_size to 2 or more") as err:
        load_config(None, ["algo.advantage=grpo"])
    assert "\n" not in str(err.value)
    assert load_config(None, ["algo.advantage=grpo", "rollout.group_size=4"]).rollout.group_size == 4
    with pytest.raises(ConfigError, match="rollout.group_size must be at least 1"):
        load_config(None, ["rollout.group_size=0"])


@pytest.mark.parametrize("name, message", [
    ("gpu", "is not a device name"),
    ("mps", "sparring runs on cpu or cuda"),
])
def test_bad_model_device_is_one_line_error(name, message):
    from sparring.errors import SparringError
    from sparring.training.policy import policy_device

    with pytest.raises(SparringError, match=message):
        policy_device(name)
    assert str(policy_device("cpu")) == "cpu"


def test_cuda_device_without_a_gpu_is_one_line_error():
    import torch

    from sparring.errors import SparringError
    from sparring.training.policy import policy_device

    if torch.cuda.is_available():
        assert policy_device("cuda").type == "cuda"
    else:
        with pytest.raises(SparringError, match="torch sees no CUDA device"):
            policy_device("cuda")
