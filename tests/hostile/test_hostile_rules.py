"""Hostile rules files: each is rejected within 1 s and 100 MB, in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MiB = 1024 * 1024

BOMB = (
    "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
        for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
    )
    + "rules: *i\n"
)


def deep_block(levels: int) -> str:
    return "".join(" " * i + "k:\n" for i in range(levels)) + " " * levels + "v\n"


CASES: dict[str, Callable[[], bytes]] = {
    "alias bomb": lambda: BOMB.encode(),
    "deep flow nesting": lambda: b"rules: " + b"[" * 100_000,
    "deep block nesting": lambda: ("rules:\n" + deep_block(1000)).encode(),
    "50 MB file": lambda: b"rules:\n" + b"# padding\n" * (5 * MiB),
    "unsafe tags": lambda: (
        "rules:\n" + "  - !!python/object/apply:os.system ['touch /tmp/pwned']\n" * 200
    ).encode(),
    "custom tags everywhere": lambda: ("a: !x {b: !y [!z 1]}\n" * 1000).encode(),
    "invalid UTF-8": lambda: b"rules:\n  - name: \xc3\x28\xa0\xa1\n",
    "UTF-16 with BOM": lambda: "rules: []\n".encode("utf-16"),
    "random binary": lambda: bytes(range(256)) * 1000,
    "5000-digit number": lambda: (
        "rules: [{name: a, key: k, when: {above: " + "9" * 5000 + "}}]"
    ).encode(),
    "4 MB string": lambda: (
        "rules: [{name: '" + "x" * (4 * MiB) + "', key: k, when: {above: 1}}]"
    ).encode(),
    "10k duplicate keys": lambda: ("rules: []\n" + "rules: []\n" * 10_000).encode(),
}

# VmHWM, not ru_maxrss: on Linux ru_maxrss survives execve and would report pytest's own peak.
PROBE = """
import json, sys, time
from pxrules.rules import load_file
start = time.perf_counter()
result = load_file(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({
    "seconds": elapsed,
    "max_rss_mb": int(next(line.split()[1] for line in open("/proc/self/status")
                           if line.startswith("VmHWM:"))) / 1024,
    "errors": [str(p) for p in result.errors][:3],
    "count": len(result.problems),
    "ok": result.ok,
}))
"""


def probe(path: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-2000:]  # no crash, no traceback
    report: dict[str, object] = json.loads(proc.stdout)
    assert not report["ok"] and report["errors"], report
    return report


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_rules_file_is_rejected_quickly_in_little_memory(name: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(CASES[name]())
    report = probe(path)
    assert report["seconds"] < 1.0, report  # type: ignore[operator]
    assert report["max_rss_mb"] < 100, report  # type: ignore[operator]
    assert not (tmp_path / "pwned").exists() and not Path("/tmp/pwned").exists()


def test_a_huge_well_formed_file_is_capped_not_crashed(tmp_path: Path) -> None:
    """100,000 unknown keys: parsing time grows with the node count (libyaml), but the
    problems are capped at 1,000 and memory stays bounded."""
    path = tmp_path / "big.yaml"
    path.write_text("rules: []\nsource:\n" + "".join(f"  k{i}: {i}\n" for i in range(100_000)))
    report = probe(path)
    assert report["seconds"] < 10.0, report  # type: ignore[operator]
    assert report["max_rss_mb"] < 300, report  # type: ignore[operator]
