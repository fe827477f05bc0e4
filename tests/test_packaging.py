"""The package as users install it: sdist and wheel built with `python -m build`, the wheel
installed into a clean virtual environment, its command run outside the source tree."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest

import pxrules

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(600)
def test_the_wheel_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    # setuptools' deprecation box for a table-style `project.license` is gone (SPDX string).
    assert "project.license" not in built.stdout + built.stderr
    (wheel,) = dist.glob("pxrules-*.whl")
    (sdist,) = dist.glob("pxrules-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("pxrules/data/demo.yaml") for name in names)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The ranges of pyproject.toml, held to the versions the suite passed with.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel),
         "-c", str(ROOT / "requirements.lock")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    command = env_dir / "bin" / "pxrules"
    version = subprocess.run(
        [str(command), "--version"], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    assert version.stdout.strip() == f"pxrules, version {pxrules.__version__}"
    checked = subprocess.run(
        [str(command), "check", str(ROOT / "rules.example.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        "rules.example.yaml: 5 rules, notifiers log, phone, ops-hook, fan-on, OK" in checked.stdout
    )
    # The installed package is the wheel's, not this source tree.
    where = subprocess.run(
        [str(python), "-c", "import pxrules; print(pxrules.__file__)"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(env_dir))
