"""Evaluation: arenas, rates against fixed players, exploitability, leagues, plots and replays."""
