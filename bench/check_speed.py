"""`pxrules check` of a 10,000-rule file vs yaml.safe_load of the same file, in one run.

.venv/bin/python bench/check_speed.py [RULES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import save
from gen_rules import generate

from pxrules.rules import load_file


def best(fn, rounds: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(generate(n))
        text = path.read_text()
        assert load_file(path).ok
        safe = best(lambda: yaml.safe_load(text))
        check = best(lambda: load_file(path))
    print(
        f"{n:,} rules ({len(text) / 1024:,.0f} KiB): yaml.safe_load {safe:.2f} s, "
        f"pxrules check {check:.2f} s → {check / safe:.2f}× (target <= 5×)"
    )
    save("check", {"rules": n, "safe_load_s": safe, "check_s": check, "ratio": check / safe})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
