"""pip builds a working wheel, and an editable install works for development.

Each test makes a fresh virtual environment, installs the project into it
with pip and runs the package and the CLI from there, outside the source
tree.  They are marked `packaging` so that the sanitizer run, which tests an
instrumented build instead, can leave them out by name.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(600)]

CHECK = (
    "import ungil, sys\n"
    "assert ungil.sum_upto(10**6, threads=2) == 10**6 * (10**6 + 1) // 2\n"
    "with ungil.Pool(2) as p:\n"
    "    assert list(p.map(abs, [-1, -2])) == [1, 2]\n"
    "print(ungil.__file__)\n"
)


def clean_env():
    env = dict(os.environ)
    for name in ("PYTHONPATH", "UNGIL_BUILD", "LD_PRELOAD"):
        env.pop(name, None)
    return env


def make_venv(path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)],
                   check=True)
    return path / "bin" / "python"


def pip(python, *args):
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python),
                    "install", "-q", *args],
                   check=True, env=clean_env(), timeout=500)


def run_check(python, cwd):
    out = subprocess.run([str(python), "-c", CHECK], cwd=cwd, env=clean_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def test_pip_install_builds_a_working_wheel(tmp_path):
    python = make_venv(tmp_path / "venv")
    pip(python, "--no-deps", str(ROOT))
    location = run_check(python, tmp_path)
    assert (tmp_path / "venv") in location.parents
    cli = tmp_path / "venv" / "bin" / "ungil"
    out = subprocess.run([str(cli), "sum", "100"], capture_output=True,
                         text=True, timeout=30, env=clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5050"


def test_editable_install_imports_from_the_source_tree(tmp_path):
    python = make_venv(tmp_path / "venv")
    # meson-python rebuilds an editable install on import, so the build
    # tools must live in the environment, without build isolation.
    pip(python, "meson-python", "meson", "ninja")
    pip(python, "--no-deps", "--no-build-isolation",
        f"-Cbuild-dir={tmp_path / 'editable-build'}", "-e", str(ROOT))
    location = run_check(python, tmp_path)
    assert location == ROOT / "python" / "ungil" / "__init__.py"
