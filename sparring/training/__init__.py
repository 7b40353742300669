"""Training: the self-play trainer and its parts (advantages, losses, learner, opponent pool, curriculum)."""
