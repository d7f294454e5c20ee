"""Shared fixtures: the sample corpus, a model trained on it, the real corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CSV = REPO / "data" / "sample" / "talks.csv"
REAL_CSV = REPO.parent / "shared" / "data" / "tdc_talks_2016_2018.csv"

# .ci/run sets this so a test needing the real corpus fails instead of skipping.
REQUIRE_REAL_CORPUS = os.environ.get("PALESTRAS_REQUIRE_REAL_CORPUS") == "1"


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def sample_talks() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def real_csv() -> Path:
    if not REAL_CSV.is_file():
        if REQUIRE_REAL_CORPUS:
            pytest.fail(f"{REAL_CSV} is missing but PALESTRAS_REQUIRE_REAL_CORPUS=1")
        pytest.skip(f"real corpus {REAL_CSV} not present")
    return REAL_CSV


@pytest.fixture(scope="session")
def trained_model(sample_talks):
    """A model trained once on the sample corpus (treat as read-only)."""
    from text_similarity_model import Model

    model = Model(version="sample-test")
    model.train(sample_talks)
    return model


@pytest.fixture(scope="session")
def sample_model_path(trained_model, tmp_path_factory) -> Path:
    """The sample model serialized to a session-wide file (with its manifest)."""
    path = tmp_path_factory.mktemp("models") / "model.pkl"
    trained_model.serialize(path)
    return path
