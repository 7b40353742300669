"""Named random streams: every use of randomness in a run gets a seed of its own.

A stream is a name with a fixed number of index parts, e.g. ``"match"`` indexed by (step, group).
``stream_seed(run_seed, "match", step, group)`` is a 32-bit seed that depends on every part and on
the stream's name, so no stream's values depend on whether another stream was used, how often,
or in which order. The number of parts is fixed per stream because NumPy's ``SeedSequence`` pads
short entropy with zeros: ``[s, 1, 2]`` and ``[s, 1, 2, 0]`` give the same seed.
"""

from __future__ import annotations

import numpy as np

# name -> (stream id, number of index parts). Ids are never reused or renumbered: they are part of
# every seed a run has drawn.
STREAMS: dict[str, tuple[int, int]] = {
    "match": (1, 2),  # chance events of a match group: (step, group)
    "arm": (2, 2),  # the curriculum's (game, role) draw of a match group: (step, group)
    "opponent": (3, 2),  # the opponent pool's draw of a match group: (step, group)
    "players": (4, 2),  # a fixed player's own randomness: (step or 0, player index)
    "arena": (5, 1),  # chance events of the i-th match of an arena or evaluation: (i,)
    "sampling": (6, 2),  # torch's RNG (LM sampling) while a step's shard is played: (step, shard)
    "shard_players": (7, 3),  # fixed players' own randomness in a step's shard: (step, shard, player group)
    "seating": (8, 1),  # the seat draw of a league round on a game of more than two seats: (round,)
    "labelled": (9, 2),  # the k-th labelled turn of a warm-start step: (step, k)
}


def stream_seed(seed: int, stream: str, *parts: int) -> int:
    """The seed of ``stream`` at index ``parts`` for a run seeded with ``seed``."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r} (streams: {', '.join(STREAMS)})")
    stream_id, arity = STREAMS[stream]
    if len(parts) != arity:
        raise ValueError(f"stream {stream!r} takes {arity} index parts, got {len(parts)}")
    if seed < 0 or any(p < 0 for p in parts):
        raise ValueError(f"seeds and stream indices must be non-negative, got {seed} and {parts}")
    return int(np.random.SeedSequence([seed, stream_id, *parts]).generate_state(1)[0])


def stream_rng(seed: int, stream: str, *parts: int) -> np.random.Generator:
    """A NumPy generator on :func:`stream_seed`."""
    return np.random.default_rng(stream_seed(seed, stream, *parts))
