"""The shared-prefix log-prob pass against the plain one and against the model's own forward."""

import pytest
import torch

from sparring.logprobs import answer_logprobs, completion_logprobs, shared_prefix_length
from sparring.model import tiny_model

PREFIX = [5, 17, 300, 42, 9, 77, 1200, 8]
# Ragged, with repeated prompts (one information state sampled twice) and completions of 1-3 tokens.
PROMPTS = [PREFIX + [11, 12, 13], PREFIX + [11, 14], PREFIX + [20], PREFIX + [11, 12, 13, 15, 16], PREFIX + [11, 14],
           PREFIX + [11, 12, 13]]
COMPLETIONS = [[31, 32], [33], [34, 35, 36], [37, 38], [39, 40, 41], [31, 32]]


def _tiny(lora: bool):
    model, _ = tiny_model(seed=3)
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                                                 target_modules=["q_proj", "v_proj", "up_proj"]))
        with torch.no_grad():  # LoRA B starts at zero: give the adapters a nonzero effect
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    return model


def _grads(model, share_prefix: bool, entropy_coef: float = 0.1):
    model.zero_grad(set_to_none=True)
    out = completion_logprobs(model, PROMPTS, COMPLETIONS, temperature=0.8, entropy=True, entropy_grad=True,
                              share_prefix=share_prefix)
    advantages = torch.tensor([[1.0], [-0.5], [0.25], [-1.0], [0.75], [-0.25]])  # a policy-gradient loss of the learner's scale
    (-(out.logprobs * advantages + entropy_coef * out.entropy) * out.mask).sum().div(out.mask.sum()).backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_shared_prefix_length_leaves_each_prompt_a_token():
    assert shared_prefix_length(PROMPTS) == len(PREFIX)
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2], [3, 2]]) == 0


@pytest.mark.parametrize("lora", [False, True])
def test_shared_prefix_gradients_equal_the_unshared_pass(lora):
    model = _tiny(lora)
    shared, g_shared = _grads(model, share_prefix=True)
    plain, g_plain = _grads(model, share_prefix=False)
    assert torch.allclose(shared.logprobs, plain.logprobs, atol=1e-5)
    assert torch.allclose(shared.entropy * shared.mask, plain.entropy * plain.mask, atol=1e-5)
    assert torch.equal(shared.mask, plain.mask)
    assert len(g_shared) == len(g_plain) > 0
    worst = max(float((g_shared[n] - g_plain[n]).abs().max()) for n in g_plain)
    assert worst <= 1e-5
    assert max(float(g.abs().max()) for g in g_plain.values()) > 1e-3  # the comparison is not between zeros


def test_logprobs_equal_a_full_forward_of_each_row_alone():
    model = _tiny(lora=False)
    with torch.no_grad():
        out = completion_logprobs(model, PROMPTS, COMPLETIONS, temperature=0.8)
        for i, (p, c) in enumerate(zip(PROMPTS, COMPLETIONS)):
            logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1:len(p) + len(c) - 1].float() / 0.8
            expected = logits.log_softmax(-1).gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
            assert torch.allclose(out.logprobs[i, :len(c)], expected, atol=1e-5)
            assert float(out.mask[i].sum()) == len(c) and float(out.logprobs[i, len(c):].abs().sum()) == 0.0


def test_answer_logprobs_sum_each_candidates_tokens():
    model = _tiny(lora=False)
    with torch.no_grad():
        (scores,) = answer_logprobs(model, [PROMPTS[0]], [[[31, 32], [40]]])
        per_token = completion_logprobs(model, [PROMPTS[0]] * 2, [[31, 32], [40]]).logprobs
    assert torch.allclose(scores, per_token.sum(-1), atol=1e-6)


def test_one_token_answers_to_one_prompt_equal_the_plain_pass():
    model = _tiny(lora=True)
    prompts, answers = [PROMPTS[0]] * 3, [[31], [40], [7]]  # the tree has no completion pass at all
    with torch.no_grad():
        shared = completion_logprobs(model, prompts, answers, share_prefix=True)
        plain = completion_logprobs(model, prompts, answers, share_prefix=False)
    assert torch.allclose(shared.logprobs, plain.logprobs, atol=1e-5) and torch.equal(shared.mask, plain.mask)
    assert len(set(plain.logprobs[:, 0].tolist())) == 3


def test_a_prompt_context_gives_the_same_logprobs_as_the_full_pass():
    """`prompt_context` keeps each prompt but its last token; the pass on it scores the same tokens."""
    from sparring.logprobs import joined_context, prompt_context

    model = _tiny(lora=True)
    with torch.no_grad():
        full = completion_logprobs(model, PROMPTS, COMPLETIONS, temperature=0.8)
        for batch in (32, 3):  # one pass, or two of different widths joined
            context = prompt_context(model, PROMPTS, batch=batch)
            assert len(context.rows) == 4  # the distinct prompts
            spent = prompt_context(model, PROMPTS, batch=batch)
            moved = joined_context([spent], [PROMPTS[3], PROMPTS[0]], release=True)
            assert all(layer is None for layer in spent.keys_values)  # the source's layers were let go
            assert torch.equal(moved.keys_values[0][0][1], context.keys_values[0][0][0])
            for rows in (range(6), [1, 2, 4], [3, 0]):  # a run of the context's rows, or rows picked out
                prompts, completions = [PROMPTS[i] for i in rows], [COMPLETIONS[i] for i in rows]
                on_context = completion_logprobs(model, prompts, completions, temperature=0.8, context=context)
                width = on_context.mask.shape[1]
                assert torch.equal(full.mask[list(rows), :width], on_context.mask)
                assert torch.allclose(full.logprobs[list(rows), :width], on_context.logprobs, atol=1e-5)


def test_a_prompt_context_differentiates_only_the_last_token_and_the_answers():
    """With adapters only in the last layer's MLP, nothing the prompt's earlier tokens feed forward changes with
    them, so the context pass's gradient is the full one; with adapters on the attention projections the
    prompt's keys and values move too, and the context pass leaves that part out."""
    from peft import LoraConfig, get_peft_model

    from sparring.logprobs import prompt_context

    def grads(targets, context: bool):
        base, _ = tiny_model(seed=3)
        last = base.config.num_hidden_layers - 1
        torch.manual_seed(0)  # LoRA A's initial values
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets.format(last=last)))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
        kept = prompt_context(model, PROMPTS) if context else None
        out = completion_logprobs(model, PROMPTS, COMPLETIONS, context=kept)
        (out.logprobs * out.mask).sum().backward()
        return [p.grad.clone() for p in model.parameters() if p.requires_grad]

    mlp_only = r".*layers\.{last}\.mlp\.up_proj"
    for exact, truncated in zip(grads(mlp_only, False), grads(mlp_only, True)):
        assert torch.allclose(exact, truncated, atol=1e-6) and float(exact.abs().max()) > 1e-4
    attention = r".*\.(q_proj|v_proj)"
    gaps = [float((a - b).abs().max()) for a, b in zip(grads(attention, False), grads(attention, True))]
    assert max(gaps) > 1e-3
