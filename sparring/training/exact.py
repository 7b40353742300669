"""Exact advantages (``algo.advantage: exact``): each sampled decision's ``Q(s, a) - V(s)`` read off the game
tree under the policy that played it, instead of a noisy return.

Each step, before the learner moves the weights, the policy's probabilities of the legal moves are scored at
every information state of each game (the exploitability scorer's table) and one tree walk turns them into
action values (`sparring.evaluation.action_values`). A match's decisions are then found by replaying its action
history. Every seat must be the policy (pure self-play), since the values assume it.
"""

from __future__ import annotations

from typing import Any

from sparring.errors import SparringError
from sparring.evaluation.action_values import action_values, decision_states
from sparring.evaluation.exploitability import EXPLOITABILITY_GAMES, exploitability, lm_policy, match_at_state
from sparring.games.base import MatchRules, Match
from sparring.logprobs import PromptContext, joined_context
from sparring.training.learner import LearnerSample


def state_value(probs: dict[int, float], q: dict[int, float]) -> float:
    """``V(s) = sum_a pi(a|s) Q(s, a)``."""
    return sum(p * q[a] for a, p in probs.items())


class ExactAdvantages:
    """The current policy's action values on each game of a step, and the advantages of a match's decisions
    (`seat_advantages`) or of every information state (`state_samples`, which needs ``keep=True``)."""

    def __init__(self, player: Any, games: list[str], rules: MatchRules, keep: bool = False,
                 keep_contexts: bool = False):
        self.rules = rules
        self.tables = {}
        for name in games:
            if name not in EXPLOITABILITY_GAMES:
                raise SparringError(f"algo.advantage=exact walks the whole game tree: it supports "
                                    f"{', '.join(EXPLOITABILITY_GAMES)}, not {name}")
            policy = lm_policy(name, player, mode="likelihood", rules=rules)
            if keep:
                policy.scorer.kept = {}
            if keep_contexts:  # one scoring call: the prompts' keys and values in as few pieces as they fit
                policy.scorer.contexts = []
                policy.batch_size = 1 << 20
            policy.precompute()
            self.tables[name] = (policy, action_values(policy.game, policy))

    def state_samples(self) -> list[LearnerSample]:
        """One learner sample per question the model is asked (information states that read as the same prompt
        and moves are one), each once whatever its reach: its legal answers and their advantages, the mean over
        its reached states (``algo.exact_states: all``). Its own completion is its first legal answer, as scored."""
        samples = []
        for policy, values in self.tables.values():
            questions: dict[tuple, list[list[float]]] = {}
            for state in policy.information_states():
                key = policy.state_key(state)
                if key not in values:
                    continue  # never reached: no on-policy value
                obs = match_at_state(policy.language_game, state, self.rules).observe()
                q, probs = values[key], policy.cache[key]
                v = state_value(probs, q)
                moves = {policy.language_game.view.move_name(state, a): a for a in state.legal_actions()}
                questions.setdefault((obs.seat, obs.prompt, tuple(obs.legal_moves)), []).append(
                    ([q[moves[m]] - v for m in obs.legal_moves], [probs[moves[m]] for m in obs.legal_moves]))
            for question, rows in questions.items():
                prompt_ids, candidates = policy.scorer.kept[question]
                samples.append(LearnerSample(
                    prompt_ids, candidates[0][0], [float(x) for x in candidates[0][1]], 0.0,
                    legal_answers=[answer for answer, _ in candidates],
                    answer_advantages=[sum(column) / len(rows) for column in zip(*(adv for adv, _ in rows))],
                    answer_probs=list(rows[0][1])))  # the same prompt: the same probabilities
        return samples

    def take_context(self, prompts: list[list[int]]) -> PromptContext:
        """The keys and values the step's scoring passes ran these prompts' questions on (`state_samples`'
        prompts; needs ``keep_contexts=True``), for a learner that does not differentiate through the prompt;
        the table lets its own copies go (on Leduc they hold gigabytes)."""
        scorers = [policy.scorer for policy, _ in self.tables.values()]
        joined = joined_context([c for scorer in scorers for c in scorer.contexts], prompts, release=True)
        for scorer in scorers:
            scorer.contexts = []
        return joined

    def seat_advantages(self, match: Match, seat: int, turns: object = None) -> list[dict[str, float]]:
        """For each decision of `seat` in `match`, in order: every legal move's ``Q(s, move) - V(s)`` (a poker
        seat plays one trajectory: `turns` are all of its decisions)."""
        policy, values = self.tables[match.game.name]
        view = match.game.view
        out = []
        for player, key, state in decision_states(policy.game, match.state.history()):
            if player != seat:
                continue
            q = values[key]
            v = state_value(policy.cache[key], q)
            out.append({view.move_name(state, a): q[a] - v for a in state.legal_actions()})
        return out

    def metrics(self) -> dict[str, float]:
        """Per game: the exact exploitability of the policy that played this step (its table is already
        scored), and how far from indifferent it is, the mean over information states of the most a change
        at that state alone gains, ``max_a Q(s, a) - V(s)`` (0 at an equilibrium that reaches every state)."""
        out = {}
        for name, (policy, values) in self.tables.items():
            gaps = [max(q.values()) - state_value(policy.cache[key], q) for key, q in values.items()]
            out[f"deviation_gain/{name}"] = sum(gaps) / len(gaps)
            out[f"played_exploitability/{name}"] = exploitability(policy.game, policy)
        return out
