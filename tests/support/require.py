"""Skip here, fail in CI: a test whose prerequisite is missing (the real corpus,
PostgreSQL, Chromium, the C kernel) skips on a developer's machine, but fails
where ``.ci/run`` has set the prerequisite's ``PALESTRAS_REQUIRE_*`` variable to 1,
so that no test there can pass by skipping."""

import os
from typing import NoReturn

import pytest


def skip_or_fail(reason: str, env_var: str) -> NoReturn:
    """Skip the calling test with ``reason``, or fail it when ``env_var`` is "1"."""
    if os.environ.get(env_var) == "1":
        pytest.fail(f"{reason} ({env_var}=1: it must run here)")
    pytest.skip(reason)
