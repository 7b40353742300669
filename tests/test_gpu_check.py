"""scripts/gpu_check.sh without a GPU: one clear line and exit status 2 (its dry mode, --device cpu,
trains through the same code as tests/test_trainer.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the check would run")
def test_no_cuda_device_is_one_line_and_exit_2():
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--python", sys.executable],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        f"gpu_check: no CUDA device (torch {torch.__version__} sees none); --device cpu runs the dry mode"]
