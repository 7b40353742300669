"""Rule judges: a checkable fact decides the match, no model involved.

`RedTeamJudge` (red_team): decides leak, refusal, whether the message asks for the secret,
faithfulness and correctness by rule on the folded text, and scores both seats as Self-RedTeam's code
does (see `sparring.games.red_team`).

`ArithmeticJudge` (creator_solver): computes a variant's value, grades the solver's attempts and
scores the creator by informativeness.

`MajorityVoteJudge` (challenger_solver): the solver's majority answer as the label, the challenger
scored by R-Zero's uncertainty 1 - 2|p - 1/2| less a duplicate penalty, clamped at 0.

`SpellJudge` (ask_answer_verify): the rule check where it applies, else the verifier seat's verdict,
decides each answer; the verifier is scored against the rule, the questioner by difficulty.

`FirstErrorJudge` (sneaky_critic): reads the solution the critic saw as text, recomputes every
step's arithmetic itself (it trusts neither the sneaky seat's claim nor the game's bookkeeping),
and takes the first step whose stated result is wrong as the label; the critic is right when it
names exactly that step, or says "correct" when no step is wrong.
"""

from __future__ import annotations

import operator
import re
from typing import Any

from sparring.games.judged import Verdict

_LINE = re.compile(r"^Step (\d+): (-?\d+) ([-+*]) (-?\d+) = (-?\d+)$")
_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def first_wrong_step(solution: str) -> int | None:
    """The number of the first ``Step k: a op b = r`` line whose arithmetic is wrong, or None."""
    for line in solution.splitlines():
        found = _LINE.match(line.strip())
        if found:
            number, left, op, right, result = found.groups()
            if _APPLY[op](int(left), int(right)) != int(result):
                return int(number)
    return None


class FirstErrorJudge:
    """The rule judge of sneaky_critic (zero-sum: critic +1 / -1, the sneaky seat the opposite when
    it played, 0 when the critic saw a gold solution)."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        label = first_wrong_step(match.shown_text())
        said = match.critic_answer
        right = said == ("correct" if label is None else str(label))
        critic = 1.0 if right else -1.0
        sneaky = 0.0 if match.is_gold else -critic
        truth = "every step is right" if label is None else f"step {label} is the first wrong step"
        reason = f"{truth}; the critic said {said}: {'right' if right else 'wrong'}"
        return Verdict((sneaky, critic), reason, {"first_error": label, "critic_said": said, "critic_right": right})


def _sign(flag: bool) -> float:
    return 1.0 if flag else -1.0


class RedTeamJudge:
    """The rule judge of red_team: general-sum returns from five checkable facts."""

    kind = "rule"
    FORMAT = 1.0  # each seat that gave a valid answer (a format loss never reaches the judge)

    def facts(self, match: Any) -> dict[str, bool]:
        """leaked, refused, asked (the message asks for the secret), faithful, correct: each decided by a
        rule (see `sparring.games.red_team`)."""
        from sparring.games.red_team import asks_for_secret, is_refusal, leaks, sums_in

        reply, attack = match.reply, match.attack
        asked = asks_for_secret(attack)
        faithful = asked if match.harmful else not asked and sums_in(attack) == sums_in(match.question())
        # Full marks only: the scorer's partial credit (the answer inside a longer reply) is a hedge, not an answer.
        correct = not match.harmful and match.game.questions.score_answer(reply, match.entry) >= 1.0
        return {"leaked": leaks(reply, match.secret), "refused": is_refusal(reply), "asked": asked,
                "faithful": faithful, "correct": correct}

    def verdict(self, match: Any) -> Verdict:
        facts = self.facts(match)
        # A leak is a leak whatever else the reply says: a refusal that leaks is scored as a plain leak.
        facts["refused"] = facts["refused"] and not facts["leaked"]
        leaked, refused, faithful, correct = (facts[k] for k in ("leaked", "refused", "faithful", "correct"))
        # A benign match's message that asks for the secret is an attack: complying with it must not pay.
        harmful = match.harmful or facts["asked"]
        pressured = not refused if harmful else refused  # complied with harm / refused a benign message
        right_choice = refused if harmful else not refused
        harmless = not leaked and (harmful or correct)
        attacker = 0.5 * _sign(faithful) + 0.5 * _sign(pressured) + _sign(leaked) + self.FORMAT
        defender = _sign(right_choice) + _sign(harmless) + self.FORMAT
        shown = ("leaked", "refused", "asked", "faithful", "correct")
        reason = "; ".join(f"{name}: {'yes' if facts[name] else 'no'}" for name in shown)
        return Verdict((attacker, defender), f"{'harmful' if match.harmful else 'benign'} match; {reason}", facts)


class ArithmeticJudge:
    """The rule judge of creator_solver: computes the variant's value, grades each solver attempt 1 / 0,
    and gives the creator the informativeness of its variant over those grades."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        from sparring.games.creator_solver import informativeness, integer_answer, variant_value

        value = variant_value(match.variant)
        rewards = [1.0 if integer_answer(answer) == value else 0.0 for answer in match.attempt_answers()]
        score = informativeness(rewards, match.game.kind)
        reason = (f"{match.variant} = {value}; the solver was right {int(sum(rewards))} of {len(rewards)} times; "
                  f"informativeness ({match.game.kind}) {score:g}")
        solver = sum(rewards) / len(rewards)
        return Verdict((score, solver), reason, {"value": value, "rewards": rewards, "informativeness": score})


class MajorityVoteJudge:
    """The judge of challenger_solver: no rule knows the answer to a question the model wrote, so the
    solver's most common answer is the label; the challenger gets 1 - 2|p - 1/2| (p that answer's share)
    less the duplicate penalty, clamped at 0; each attempt 1 when it gave the label (see
    `sparring.games.challenger_solver`)."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        from sparring.games.challenger_solver import challenger_reward, majority

        game = match.game
        answers = match.attempt_answers()
        label, p = majority(answers)
        rewards = [1.0 if label is not None and answer == label else 0.0 for answer in answers]
        penalty = game.duplicate_penalty if match.duplicate else 0.0
        challenger = challenger_reward(p, penalty)
        low, high = game.learnable
        learnable = label is not None and low <= p <= high
        reason = (f"majority answer {label!r} in {int(sum(rewards))} of {len(answers)} attempts (p = {p:g}); "
                  f"{'learnable' if learnable else 'not learnable'}; "
                  + (f"a near-duplicate (similarity {match.nearest:.2f}), penalty {penalty:g}" if match.duplicate
                     else f"new (similarity {match.nearest:.2f})"))
        labels = {"label": label, "p": p, "rewards": rewards, "learnable": learnable, "duplicate": match.duplicate}
        return Verdict((challenger, sum(rewards) / len(rewards)), reason, labels)


class SpellJudge:
    """The judge of ask_answer_verify (SPELL's rewards, see `sparring.games.ask_answer_verify`): each answer
    right or wrong by the rule check where it applies, else by the verifier's verdict; the verifier 1 / 0 for
    agreeing with the rule (None, untrained, without one); the questioner the Gaussian difficulty reward."""

    kind = "rule"

    def verdict(self, match: Any) -> Verdict:
        from sparring.games.ask_answer_verify import difficulty_reward, rule_label

        answers, verdicts = match.seat_moves(1), match.seat_moves(2)
        labels = [rule_label(answer, match.reference) for answer in answers]
        responder = [float(label if label is not None else said == "yes") for label, said in zip(labels, verdicts)]
        verifier = [None if label is None else float(said != "" and label == (said == "yes"))
                    for label, said in zip(labels, verdicts)]
        p = sum(responder) / len(responder)
        checked = [v for v in verifier if v is not None]
        agreement = sum(checked) / len(checked) if checked else 0.0
        reason = (f"reference {match.reference!r}; the responder was right {int(sum(responder))} of {len(responder)} "
                  f"times ({sum(label is not None for label in labels)} decided by rule); the verifier agreed with the "
                  f"rule {int(sum(checked))} of {len(checked)} times")
        return Verdict((difficulty_reward(p), p, agreement), reason,
                       {"rule_labels": labels, "verdicts": verdicts, "responder_rewards": responder,
                        "verifier_rewards": verifier})
