"""Judges: what several games share to score a match when no engine can. `protocol` says what a judge
is; `sandbox` runs untrusted programs under OS limits, `program_check` is the static check of a program
and `code_judge` scores task games with both; `model_judge` and `preference` hold model judges. A game
that sparring writes owns its rule judge, in its module under `sparring.games`; nothing here imports a game."""
