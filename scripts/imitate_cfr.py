"""How fast can the model learn Kuhn Poker's equilibrium at all? Supervised, noiseless, full batch.

    .venv/bin/python scripts/imitate_cfr.py --lr 1e-3 --steps 40

A LoRA on the default model is fitted to OpenSpiel CFR's average policy (exploitability 0.001) at
all 12 information states at once: the loss is KL(CFR || policy) over each state's legal answers
(the same answer scoring as the magnet and the exploitability scorer), one AdamW step per
iteration. Every 5 steps it prints the loss and the policy's exact exploitability. Self-play sees
far noisier, far weaker signals than this, so the step count here is a floor for what
`configs/kuhn_nash.yaml` can reach.
"""

from __future__ import annotations

import argparse

import torch

from sparring.config import ModelConfig
from sparring.evaluation.exploitability import (LanguagePolicy, LikelihoodScorer, cfr_tabular_policy, exploitability,
                                                match_at_state)
from sparring.games import make_game
from sparring.logprobs import answer_logprobs
from sparring.training.policy import build_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.manual_seed(0)
    model, tokenizer = build_policy(ModelConfig(name="default", lora=True))
    game = make_game("kuhn_poker")
    scorer = LikelihoodScorer(model, tokenizer)
    states = LanguagePolicy(game, scorer).information_states()
    observations = [match_at_state(game, state).observe() for state in states]
    prompts = [scorer.prompt_ids(obs) for obs in observations]
    answers = [[scorer.completion_ids(obs, move) for move in obs.legal_moves] for obs in observations]
    cfr = cfr_tabular_policy("kuhn_poker", 1000)
    targets = []
    for state, obs in zip(states, observations):
        match = match_at_state(game, state)
        probs = {match.move_name(a): p for a, p in cfr.action_probabilities(state).items()}
        targets.append(torch.tensor([probs[move] for move in obs.legal_moves]))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    for step in range(1, args.steps + 1):
        logps = answer_logprobs(model, prompts, answers)
        loss = sum((t * (t.clamp_min(1e-9).log() - torch.log_softmax(lp, 0))).sum()
                   for lp, t in zip(logps, targets)) / len(prompts)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % 5 == 0:
            with torch.no_grad():
                value = exploitability(game, LanguagePolicy(game, LikelihoodScorer(model, tokenizer)))
            print(f"step {step}: KL(CFR || policy) {float(loss):.3f}, exploitability {value:.3f}", flush=True)


if __name__ == "__main__":
    main()
