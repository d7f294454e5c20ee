"""Shared fixtures: the sample corpus, a model trained on it, the real corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from text_similarity_model.settings import REAL_CSV, SAMPLE_CSV

from tests.support.require import skip_or_fail


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def sample_talks() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_CSV, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def real_csv() -> Path:
    if not REAL_CSV.is_file():
        # .ci/run sets PALESTRAS_REQUIRE_REAL_CORPUS=1: there a missing corpus fails the test.
        skip_or_fail(f"real corpus {REAL_CSV} not present", "PALESTRAS_REQUIRE_REAL_CORPUS")
    return REAL_CSV


@pytest.fixture(scope="session")
def real_talks(real_csv) -> pd.DataFrame:
    """The real corpus' talks, as training reads them (treat as read-only)."""
    from text_similarity_model.corpus import read_talks_csv

    return read_talks_csv(real_csv)[0]


@pytest.fixture(scope="session")
def real_model(real_talks):
    """A model trained once on the real corpus with the default pipeline (treat as read-only)."""
    from text_similarity_model import Model

    model = Model(version="real-test")
    model.train(real_talks)
    return model


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


@pytest.fixture
def app(sample_model_path, tmp_path):
    """The API on the sample model, with its own SQLite request log."""
    from api import create_app

    app = create_app({"MODEL_PATH": str(sample_model_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'requests.db'}"})
    yield app
    app.extensions["palestras"].request_log.close()


@pytest.fixture
def client(app):
    return app.test_client()


POSTGRES_URL = os.environ.get("PALESTRAS_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """An empty request-log database: SQLite, and the PostgreSQL .ci/run starts."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'requests.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def postgres_url():
    """The PostgreSQL .ci/run starts, without the request log's tables."""
    if not POSTGRES_URL:
        skip_or_fail("no PostgreSQL: set PALESTRAS_TEST_DATABASE_URL (.ci/start-postgres prints one)",
                     "PALESTRAS_REQUIRE_POSTGRES")
    from api.request_log_db import create_engine, metadata

    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    engine.dispose()
    return POSTGRES_URL
