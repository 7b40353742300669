"""Joining a Ray cluster, or starting one on this machine for the run."""

from __future__ import annotations

import os
import socket
from typing import Any

from sparring.errors import SparringError
from sparring.extras import require


def import_ray() -> Any:
    require("ray")
    import ray

    return ray


def reachable(address: str, timeout: float = 5.0) -> bool:
    """Whether host:port of a cluster address accepts a TCP connection (Ray itself retries for minutes)."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return True  # "auto" and the like: Ray resolves them
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    return True


def connect(cfg: Any) -> bool:
    """Make sure this process is connected to Ray (config `ray` section); True if Ray was started here."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address and not reachable(address):
        raise SparringError(f"cannot connect to the Ray cluster at {address} (nothing answers there; is `ray start "
                            "--head` running, and is ray.address or RAY_ADDRESS right?)")
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=cfg.local_cpus, include_dashboard=False, log_to_driver=False)
    except Exception as err:  # ray raises ConnectionError, RuntimeError or ValueError depending on what failed
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SparringError(f"cannot start or join {where}: {detail}") from None
    return True
