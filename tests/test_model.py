"""Model loading: the tiny test model, local directories, adapters, errors and the default model."""

from __future__ import annotations

import json
import time

import pytest
import torch

from sparring.errors import SparringError
from sparring.model import default_model_dir, load_model, tiny_model


def _logits(model, tokenizer, text="Legal moves: pass, bet"):
    ids = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids).logits


def test_tiny_model_is_seeded_and_leaves_global_rng_alone(tiny):
    model, tokenizer = tiny
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    again, _ = tiny_model(seed=0)
    assert torch.equal(torch.rand(3), expected)  # building the model did not consume the RNG
    other, _ = tiny_model(seed=1)
    weight = model.model.embed_tokens.weight
    assert torch.equal(again.model.embed_tokens.weight, weight)
    assert not torch.equal(other.model.embed_tokens.weight, weight)
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.pad_token is not None and tokenizer.padding_side == "left"


@pytest.mark.parametrize("name", ["/no/such/model", "defualt"])
def test_missing_model_is_a_one_line_error(name):
    with pytest.raises(SparringError, match="not found") as info:
        load_model(name)
    assert "\n" not in str(info.value) and name in str(info.value)


def test_broken_model_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SparringError, match="could not load model from") as info:
        load_model(str(tmp_path))
    assert "\n" not in str(info.value)


def test_saved_checkpoint_reloads_with_same_outputs(tiny, tmp_path):
    model, tokenizer = tiny
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = load_model(str(tmp_path))
    assert loaded_tokenizer.padding_side == "left" and loaded_tokenizer.pad_token is not None
    assert torch.allclose(_logits(loaded, loaded_tokenizer), _logits(model, tokenizer), atol=1e-5)


def test_peft_adapter_dir_loads_base_then_adapter(tmp_path):
    from peft import LoraConfig, get_peft_model

    base, tokenizer = tiny_model(seed=0)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # make the adapter do something
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft_model.save_pretrained(tmp_path, save_embedding_layers=False)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny"
    loaded, loaded_tokenizer = load_model(str(tmp_path))
    assert type(loaded).__name__.startswith("Peft")
    assert torch.allclose(_logits(loaded, loaded_tokenizer), _logits(peft_model, tokenizer), atol=1e-5)


def test_default_model_is_cached_as_safetensors_and_answers():
    from sparring.games.answer import moves_instruction
    from sparring.players.lm import LMPlayer

    started = time.perf_counter()
    model, tokenizer = load_model("default")  # converts the GGUF once (~40 s), then ~1 s
    folder = default_model_dir()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    assert getattr(model, "hf_quantizer", None) is None
    assert next(model.parameters()).dtype == torch.float32
    assert tokenizer.chat_template and tokenizer.padding_side == "left"
    print(f"load_model('default') took {time.perf_counter() - started:.1f} s")

    import types

    from sparring.games.base import MatchRules, Observation

    prompt = "Your card: K.\n" + moves_instruction(["pass", "bet"], "boxed")
    observation = Observation(types.SimpleNamespace(rules=MatchRules()), 0, prompt, ["pass", "bet"])
    action = LMPlayer(model, tokenizer, greedy=True, max_new_tokens=4).act_batch([observation])[0]
    assert action.text.strip() and action.extra["num_tokens"] == len(action.extra["completion_ids"]) > 0
