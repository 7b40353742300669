"""The Ray runner on 2 CPUs and the tiny model: same matches as the local runner, exact resume, a
killed worker's shard replayed, one-step-off-policy mode, one-line errors."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import sparring  # noqa: E402
from sparring.config import ConfigError, load_config  # noqa: E402
from sparring.distributed.worker import RolloutWorker  # noqa: E402
from sparring.errors import SparringError  # noqa: E402
from sparring.training.metrics import read_metrics  # noqa: E402
from sparring.training.trainer import train  # noqa: E402

CONFIG = Path(__file__).parents[1] / "configs" / "tiny_test.yaml"
TIMING = ("wall_time", "rollout_tokens_per_s", "rollout_turns_per_s", "learner_tokens_per_s", "trained_turns_per_s")
# Two shards on two workers, a pool serving snapshots and a fixed player from the workers.
SETTINGS = ("rollout.shards=2", "rollout.turns_per_step=12", "pool.rule=uniform", "pool.snapshot_every=1",
            "pool.fixed=[random]", "trainer.steps=3")


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def cfg_for(run_dir, *overrides):
    return load_config(CONFIG, [f"trainer.run_dir={run_dir}", *SETTINGS, *overrides])


def comparable(run):
    return [{k: v for k, v in m.items() if k not in TIMING and not k.startswith(("ray/", "time/"))} for m in read_metrics(run)]


def transcripts(run):
    return sorted((p.name, p.read_text()) for p in (Path(run) / "transcripts").glob("*.jsonl"))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    return train(cfg_for(tmp_path_factory.mktemp("local") / "run"))


def test_sync_ray_run_and_its_resume_match_the_local_runner(local_run, tmp_path):
    run = tmp_path / "run"
    train(cfg_for(run, "runner=ray", "trainer.steps=2"))
    assert len(read_metrics(run)) == 2
    train(cfg_for(run, "runner=ray"), resume=True)  # steps 3 on a fresh set of workers
    assert comparable(run) == comparable(local_run)
    assert transcripts(run) == transcripts(local_run)
    reference = read_metrics(local_run)
    assert any(k.startswith("pool/prob/snapshot@") for k in reference[-1])  # the workers served snapshots...
    seats = {s for _, text in transcripts(run) for line in text.splitlines() for s in json.loads(line)["seats"]}
    assert seats == {"policy", "random", "snapshot@1", "snapshot@2"}  # ...and the fixed player, on both shards
    assert [m["staleness"] for m in reference] == [0, 0, 0]


def test_legal_move_scoring_on_ray_workers_matches_the_local_runner(tmp_path):
    """The workers score the legal answers with their copy of the weights: the same matches as in one process."""
    legal = ("rollout.moves=legal", "trainer.steps=2")
    local = train(cfg_for(tmp_path / "local", *legal))
    remote = train(cfg_for(tmp_path / "ray", "runner=ray", *legal))
    assert comparable(remote) == comparable(local)
    assert transcripts(remote) == transcripts(local)
    rates = [v for m in read_metrics(remote) for k, v in m.items() if k.startswith("invalid_rate/")]
    assert rates and set(rates) == {0.0}


class Stop(Exception):
    pass


def test_async_mode_is_one_step_off_and_resumes_exactly(local_run, tmp_path, monkeypatch):
    whole = train(cfg_for(tmp_path / "whole", "runner=ray", "ray.mode=async"))
    metrics = read_metrics(whole)
    assert [m["staleness"] for m in metrics] == [0, 1, 1]
    assert comparable(whole)[0] == comparable(local_run)[0]  # step 1 is played with the initial weights

    import sparring.training.trainer as trainer

    real_save = trainer.save_checkpoint

    def save_then_stop(root, step, *args, **kwargs):
        real_save(root, step, *args, **kwargs)
        if step == 2:  # step 3 is in flight on the workers: the checkpoint must carry it
            raise Stop

    run = tmp_path / "stopped" / "run"
    monkeypatch.setattr(trainer, "save_checkpoint", save_then_stop)
    with pytest.raises(Stop):
        train(cfg_for(run, "runner=ray", "ray.mode=async"))
    monkeypatch.setattr(trainer, "save_checkpoint", real_save)
    train(cfg_for(run, "runner=ray", "ray.mode=async"), resume=True)
    assert comparable(run) == comparable(whole)
    assert transcripts(run) == transcripts(whole)


class SlowWorker(RolloutWorker):
    """A worker that pauses before each generate call, so a kill lands mid-shard on any machine."""

    def __init__(self, *args):
        super().__init__(*args)
        act_batch = self.policy.act_batch
        self.policy.act_batch = lambda observations: time.sleep(0.2) or act_batch(observations)


def test_a_killed_worker_is_restarted_and_its_shard_replayed_exactly(tmp_path):
    from sparring.distributed import RayRunner
    from sparring.games import make_game
    from sparring.players.lm import LMPlayer
    from sparring.training.curriculum import Curriculum, game_arms
    from sparring.training.policy import build_policy
    from sparring.training.pool import OpponentPool
    from sparring.training.runner import LocalRunner
    from sparring.training.selfplay import SelfPlay, lm_options
    from sparring.training.algorithms.policy_gradient import turn_samples

    cfg = cfg_for(tmp_path, "runner=ray", "rollout.turns_per_step=48")
    games = {name: make_game(name, cfg.tasks) for name in cfg.games.names}
    model, tokenizer = build_policy(cfg.model)
    policy = LMPlayer(model, tokenizer, name="policy", **lm_options(cfg))
    pool = OpponentPool.from_config(cfg.pool, seed=cfg.trainer.seed, lora=True, lm_options=lm_options(cfg))
    pool.bind(policy)
    pool.add_snapshot(0, model)
    curriculum = Curriculum.from_config(cfg.curriculum, game_arms(games.values()))
    seats = SelfPlay(cfg, policy, pool, curriculum, games, 1, None)
    expected = LocalRunner().submit(seats, trained=0).result().played

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    runner = RayRunner(cfg, games, worker_class=SlowWorker)
    workers = ray.get([w.ready.remote() for w in runner.workers])
    assert {w["sparring"] for w in workers} == {sparring.__file__}  # the workers run this tree's code
    pending = runner.submit(seats, trained=0)
    time.sleep(1.0)  # worker 0 is generating its shard
    ray.kill(runner.workers[0], no_restart=False)
    got = pending.result()
    runner.close()
    assert got.metrics["ray/worker_restarts"] == 1.0  # the kill landed before the shard was returned
    assert [pm.record() for pm in got.played] == [pm.record() for pm in expected]
    assert len(turn_samples(got.played)[0]) == len(turn_samples(expected)[0]) >= 48


def test_bad_ray_settings_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="set rollout.shards >= 2"):
        load_config(CONFIG, ["runner=ray"])
    with pytest.raises(ConfigError, match="needs runner=ray"):
        load_config(CONFIG, ["ray.mode=async"])
    with pytest.raises(ConfigError, match="ray needs workers >= 1"):
        load_config(CONFIG, ["runner=ray", "ray.workers=0"])
    from sparring.distributed import RayRunner
    from sparring.games import make_game

    cfg = load_config(CONFIG, ["runner=ray", "rollout.shards=2", "games.names=[propose_solve]"])
    with pytest.raises(SparringError, match="cannot play propose_solve yet"):
        RayRunner(cfg, {"propose_solve": make_game("propose_solve", cfg.tasks)})
    monkeypatch.setitem(sys.modules, "ray", None)
    from sparring.distributed.cluster import import_ray

    with pytest.raises(SparringError, match="runner=ray needs Ray: pip install"):
        import_ray()


def test_an_unreachable_cluster_is_a_one_line_cli_error(tmp_path):
    overrides = [f"trainer.run_dir={tmp_path / 'run'}", "runner=ray", "rollout.shards=2", "ray.address=127.0.0.1:9"]
    command = [sys.executable, "-m", "sparring", "train", str(CONFIG), *(a for o in overrides for a in ("--set", o))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("sparring: error: cannot connect to the Ray cluster at 127.0.0.1:9")
