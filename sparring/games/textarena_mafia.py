"""Secret Mafia for 6 to 15 players on TextArena's ``SecretMafia-v0``: TextArena deals the roles, runs
the nights and days and scores the teams; sparring writes each seat's prompt from the environment
state and its own record of the moves, showing a seat exactly what TextArena tells it:

* everyone: their own role, who is alive, the day's discussion, the day votes, who died and how;
* the Mafia also: who the other Mafia are and the Mafia's night votes;
* the Doctor: whom it protected; the Detective: whether each player it investigated is Mafia.

Nobody learns a dead player's role (TextArena does not announce it).

Moves: night and vote turns name a player (``player_3``; the targets TextArena lists for the phase);
a discussion turn is free text, the answer's content, at most `MESSAGE_CHARS` characters, which
everyone hears. The discussion (three rounds a day, every living player speaking each round) would
make prompts grow without bound, so a prompt shows only the latest `history_shown` messages and day
votes; the deaths and the seat's own night knowledge (a handful each) are always shown in full. Returns are TextArena's: +1 for every member of the winning team
(Village or Mafia), -1 for every other player.
"""

from __future__ import annotations

from typing import Any

from sparring.games.answer import extract_answer, parse_move
from sparring.games.base import MatchRules, Turn
from sparring.games.textarena_games import PartyGame, TextArenaMatch

MESSAGE_CHARS = 300
DISCUSSION_EXAMPLES = ("I am with the village.", "Who has been quiet so far?", "Let us vote carefully today.")


class MafiaMatch(TextArenaMatch):
    game: SecretMafia
    history_shown = 12

    def __init__(self, game: SecretMafia, seed: int, rules: MatchRules):
        super().__init__(game, seed, rules)
        # (who may see it: None = everyone, kind: "talk" | "death" | "night", text), in order
        self.events: list[tuple[frozenset[int] | None, str, str]] = []
        self.day = 0  # days begun so far

    # -- engine state, read-only ---------------------------------------------------------------
    @property
    def phase(self) -> str:
        """TextArena's phase: Night-Mafia, Night-Doctor, Night-Detective, Day-Discussion, Day-Voting."""
        return self.env.phase.value

    @property
    def alive(self) -> list[int]:
        return sorted(self.ta_state.game_state["alive_players"])

    def role(self, seat: int) -> str:
        return self.env.player_roles[seat]

    @property
    def mafia(self) -> list[int]:
        return [s for s in range(self.game.num_seats) if self.role(s) == "Mafia"]

    def teams(self) -> list[int]:
        return [1 if self.role(s) == "Mafia" else 0 for s in range(self.game.num_seats)]

    # -- moves ---------------------------------------------------------------------------------
    def targets(self, seat: int) -> list[int]:
        """The players TextArena lists as this phase's targets."""
        if self.phase == "Night-Mafia":
            return [s for s in self.alive if s not in self.mafia]
        if self.phase == "Day-Voting":
            return self.alive
        return [s for s in self.alive if s != seat]

    def legal_moves(self) -> list[str]:
        seat = self.current_seat()
        if seat is None:
            return []
        if self.phase == "Day-Discussion":
            others = [s for s in self.alive if s != seat]
            return [*DISCUSSION_EXAMPLES, f"I suspect player_{others[len(self.turns) % len(others)]}."]
        return [f"player_{s}" for s in self.targets(seat)]

    def parse(self, text: str) -> str | None:
        if self.current_seat() is None:
            return None
        if self.phase != "Day-Discussion":
            return parse_move(text, self.legal_moves(), self.rules.answer_format)
        answer = extract_answer(text, self.rules.answer_format)
        message = " ".join((answer or "").split())
        return message if 0 < len(message) <= MESSAGE_CHARS else None

    def engine_action(self, move: str) -> str:
        if self.phase == "Day-Discussion":
            return move
        return f"[{move.removeprefix('player_')}]"

    def _engine_apply(self, move: str) -> None:
        seat, phase, before = self.current_seat(), self.phase, self.alive
        super()._engine_apply(move)
        night, day = f"night {self.day + 1}", f"day {self.day}"
        if phase == "Day-Discussion":
            self.events.append((None, "talk", f"{day}, player_{seat} says: {move}"))
        elif phase == "Day-Voting":
            self.events.append((None, "talk", f"{day}, player_{seat} votes to eliminate {move}."))
        elif phase == "Night-Mafia":
            self.events.append((frozenset(self.mafia), "night", f"{night} (Mafia only): player_{seat} votes to kill {move}."))
        elif phase == "Night-Doctor":
            self.events.append((frozenset([seat]), "night", f"{night}: you protected {move}."))
        else:
            verdict = "is" if self.role(int(move.removeprefix("player_"))) == "Mafia" else "is not"
            self.events.append((frozenset([seat]), "night", f"{night}: you investigated {move}: {verdict} Mafia."))
        for dead in sorted(set(before) - set(self.alive)):
            how = f"was eliminated by vote on {day}" if phase == "Day-Voting" else f"was killed in {night}"
            self.events.append((None, "death", f"player_{dead} {how}."))
        if phase.startswith("Night") and self.phase == "Day-Discussion":
            if before == self.alive:
                self.events.append((None, "death", f"No one was killed in {night}."))
            self.day += 1

    # -- what a seat sees ----------------------------------------------------------------------
    def visible_events(self, seat: int, kind: str) -> list[str]:
        return [text for audience, k, text in self.events if k == kind and (audience is None or seat in audience)]

    def observation_text(self, seat: int) -> str:
        team = "Mafia" if self.role(seat) == "Mafia" else "Village"
        lines = [f"You are player_{seat}, {self.role(seat)} (team {team})."]
        if team == "Mafia":
            others = [f"player_{s}" for s in self.mafia if s != seat]
            lines.append(f"Your fellow Mafia: {', '.join(others) or 'none'}.")
        lines.append("Alive: " + ", ".join(f"player_{s}" for s in self.alive) + ".")
        for title, kind, shown in (("Your night actions", "night", None), ("Deaths", "death", None),
                                   (f"Latest talk and votes (up to {self.history_shown})", "talk", self.history_shown)):
            events = self.visible_events(seat, kind)
            events = events[-shown:] if shown else events
            if events:
                lines.append(f"{title}:")
                lines += [f"  {event}" for event in events]
        when = f"night {self.day + 1}" if self.phase.startswith("Night") else f"day {self.day}"
        lines.append(f"Now, {when}: {self.INSTRUCTIONS[self.phase]}")
        return "\n".join(lines)

    INSTRUCTIONS = {
        "Night-Mafia": "name the player the Mafia should kill.",
        "Night-Doctor": "name the player to protect from the Mafia tonight.",
        "Night-Detective": "name the player to investigate.",
        "Day-Discussion": f"discussion; say something to everyone (at most {MESSAGE_CHARS} characters).",
        "Day-Voting": "vote; name the player to eliminate.",
    }

    def submit(self, text: str, prompt: str | None = None, **extra: Any) -> Turn:
        phase = self.phase
        turn = super().submit(text, prompt, **extra)
        turn.extra["phase"] = phase
        return turn

    def record(self) -> dict[str, Any]:
        return {**super().record(), "roles": [self.role(s) for s in range(self.game.num_seats)]}


class SecretMafia(PartyGame):
    base_name = "textarena_mafia"
    description = "Secret Mafia on TextArena's SecretMafia-v0, 6 to 15 players (NAME@N; default 6): Village vs Mafia."
    env_id = "SecretMafia-v0-raw"
    match_class = MafiaMatch
    open_moves = True
    seat_range = range(6, 16)
    default_seats = 6
    discussion_rounds = 3  # SecretMafia-v0

    @property
    def rules_text(self) -> str:  # type: ignore[override]
        return (
            f"Secret Mafia for {self.num_seats} players. Roles are dealt in secret: "
            f"{max(1, round(self.num_seats * 0.25))} Mafia (who know each other), one Doctor, one Detective, "
            "the rest Villagers; Doctor, Detective and Villagers are the Village. Each night the Mafia vote on a "
            "Village player to kill, the Doctor protects one player (a protected target survives) and the "
            "Detective learns whether one player is Mafia. Each day, after "
            f"{self.discussion_rounds} rounds of open discussion, everyone alive votes and the player with the "
            "most votes is eliminated (ties are broken at random). Roles of the dead stay secret. The Village "
            "wins when no Mafia are left; the Mafia win when they are at least half of the living. Every member "
            "of the winning team gets +1, every other player -1."
        )

    @property
    def turn_cap(self) -> int:  # type: ignore[override]
        # Every day's vote eliminates someone, so there are at most num_seats days, each with at most
        # this many moves (night: Mafia, Doctor, Detective; day: discussion rounds and a vote each).
        n = self.num_seats
        return n * (n + 2 + n * (self.discussion_rounds + 1))
