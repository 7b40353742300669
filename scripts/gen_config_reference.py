"""Writes docs/config.md, the config reference, from the config classes' field docs (sparring/config.py).

Run after changing a config field: python scripts/gen_config_reference.py
(tests/test_docs.py fails while docs/config.md differs from what this prints.)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparring.config import config_reference  # noqa: E402

OUT = ROOT / "docs" / "config.md"
HEADER = """# Config reference

Every field can be set in YAML or overridden with `--set section.field=value`. An unknown or
ill-typed field is a one-line error naming it. This page is generated from the config classes'
field docs by `python scripts/gen_config_reference.py`; the test suite fails when it is stale.

"""


def render() -> str:
    return HEADER + config_reference().rstrip() + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT.relative_to(ROOT)}")
