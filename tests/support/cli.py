"""The command line as a user runs it: ``python -m text_similarity_model ...`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "text_similarity_model"]


def run_cli(*arguments, cwd: str | Path | None = None, env: dict | None = None, unset: tuple[str, ...] = (),
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the command with ``arguments`` (made text); its output captured as text.
    ``env`` is added to this process' environment, the variables named in ``unset`` removed from it."""
    environment = {name: value for name, value in {**os.environ, **(env or {})}.items() if name not in unset}
    return subprocess.run([*CLI, *map(str, arguments)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=environment)


def train_file(data: Path, model_path: Path, version: str) -> None:
    """Train ``data`` into the lone model file ``model_path`` named ``version``; raises if it fails."""
    completed = run_cli("train-file", data, model_path, "--version", version)
    assert completed.returncode == 0, completed.stdout + completed.stderr
