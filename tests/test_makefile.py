"""The Makefile picks an interpreter that runs and is 3.11 or newer, or says in
one line what is needed; `make` alone only lists the verbs.

Each case runs ``make -n`` (nothing is built) with a PATH holding only
interpreters crafted in a temporary folder: a pyenv-like shim that exists but
fails, an old Python, and this test's own (3.11 or newer) Python.
"""

import os
import shutil
import subprocess
import sys

import pytest

from text_similarity_model.settings import REPO_ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="no make on PATH")

FAILING_SHIM = '#!/bin/sh\necho "pyenv: $(basename "$0"): command not found" >&2\nexit 127\n'
OLD_PYTHON = "#!/bin/sh\nexit 1\n"  # what `python3.10 -c 'sys.exit(sys.version_info < (3, 11))'` does


def make(*arguments, path):
    return subprocess.run([MAKE, "--no-print-directory", "-C", str(REPO_ROOT), *arguments],
                          env={"PATH": str(path)}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def bin_dir(tmp_path):
    """A folder for PATH with no Python in it, only the sed that `make help` uses."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "sed").symlink_to(shutil.which("sed"))
    return folder


def add(folder, name, script=None):
    command = folder / name
    if script is None:
        command.symlink_to(sys.executable)  # a real Python, 3.11 or newer
    else:
        command.write_text(script)
        command.chmod(0o755)
    return command


def test_a_failing_shim_is_passed_over_for_the_next_python_that_runs(bin_dir, tmp_path):
    add(bin_dir, "python3.11", FAILING_SHIM)
    add(bin_dir, "python3.12")
    add(bin_dir, "python3", OLD_PYTHON)
    result = make("-n", "install", f"VENV={tmp_path / 'venv'}", path=bin_dir)
    assert result.returncode == 0, result.stderr
    assert f"python3.12 -m venv {tmp_path / 'venv'}" in result.stdout.splitlines()


def test_the_first_candidate_that_runs_wins(bin_dir, tmp_path):
    add(bin_dir, "python3.11")
    add(bin_dir, "python3")
    result = make("-n", "install", f"VENV={tmp_path / 'venv'}", path=bin_dir)
    assert f"python3.11 -m venv {tmp_path / 'venv'}" in result.stdout.splitlines()


def test_python_given_on_the_command_line_is_used(bin_dir, tmp_path):
    add(bin_dir, "python3.11")
    chosen = add(tmp_path, "my-python")
    result = make("-n", "install", f"VENV={tmp_path / 'venv'}", f"PYTHON={chosen}", path=bin_dir)
    assert f"{chosen} -m venv {tmp_path / 'venv'}" in result.stdout.splitlines()


@pytest.mark.parametrize("python_argument", [[], ["PYTHON=python3.9"]])
def test_without_a_usable_python_one_line_says_what_is_needed(bin_dir, tmp_path, python_argument):
    add(bin_dir, "python3.11", FAILING_SHIM)
    add(bin_dir, "python3.12", FAILING_SHIM)
    add(bin_dir, "python3", OLD_PYTHON)
    add(bin_dir, "python3.9", OLD_PYTHON)
    result = make("-n", "install", f"VENV={tmp_path / 'venv'}", *python_argument, path=bin_dir)
    assert result.returncode != 0
    (line,) = result.stderr.splitlines()
    assert "palestras needs Python 3.11 or newer" in line and "python3-venv" in line and "make PYTHON=" in line
    assert ("python3.9 is not one" in line) == bool(python_argument)
    assert result.stdout == ""


def test_make_alone_lists_the_verbs_and_builds_nothing(bin_dir):
    result = make(path=bin_dir)  # no Python at all on PATH: none is needed
    assert result.returncode == 0, result.stderr
    verbs = [line.split(":")[0] for line in result.stdout.splitlines() if not line.startswith(" ")]
    assert {"help", "install", "run", "train", "test", "test-fast", "lint", "data"} <= set(verbs)


def test_run_prod_without_nginx_says_how_to_install_it_in_one_line():
    result = subprocess.run([MAKE, "--no-print-directory", "-C", str(REPO_ROOT), "run-prod"], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "NGINX": "/nonexistent/nginx", "MAKEFLAGS": ""})
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == "run-prod: nginx not found (/nonexistent/nginx): apt install nginx"
    assert "models init" not in result.stdout  # stopped before doing anything
