"""The Ray runner: rollout workers as Ray actors, the learner in the trainer process (`runner: ray`)."""

from sparring.distributed.runner import RayRunner

__all__ = ["RayRunner"]
