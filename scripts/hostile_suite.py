"""Run the sandbox's whole hostile suite (`sparring.judges.hostile`) and print one line per attack.

    python scripts/hostile_suite.py            # every attack; ends with "N programs, 0 escapes"
    python scripts/hostile_suite.py -k forge   # only attacks whose kind or name contains "forge"

Exit status 1 when any attack escaped. The host fixtures (a root-only secret, listeners, a sentinel)
live in a folder created under the current directory for the run and removed afterwards.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from sparring.judges.hostile import ATTACKS, Host, run_attack, sandbox_for_suite
from sparring.judges.sandbox import Isolation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="run only attacks whose kind or name contains this")
    args = parser.parse_args()
    attacks = [a for a in ATTACKS if args.k in a.kind or args.k in a.name]
    iso = Isolation.detect()
    print(f"isolation: namespaces={iso.namespaces} uid_drop={iso.drop_uid} seccomp={iso.seccomp} python={iso.python}")
    sandbox, host = sandbox_for_suite(), Host(Path.cwd())
    escapes: Counter[str] = Counter()
    try:
        for attack in attacks:
            outcome = run_attack(attack, sandbox, host)
            escapes[attack.kind] += outcome.escaped
            mark = "ESCAPED" if outcome.escaped else "held"
            print(f"{mark:8} {attack.kind:12} {attack.name:28} {outcome.seconds:5.2f} s  {outcome.detail}", flush=True)
    finally:
        sandbox.close()
        host.close()
    kinds = Counter(a.kind for a in attacks)
    print("by kind: " + ", ".join(f"{kind} {escapes[kind]}/{n}" for kind, n in kinds.items()))
    print(f"{len(attacks)} programs, {sum(escapes.values())} escapes")
    return 1 if sum(escapes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
