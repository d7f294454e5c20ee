"""End to end: crawl the fixture site, train on the CSV, ask for related talks.

The three commands a user runs (``make data``, ``make train``, and a query),
each as a subprocess on the files the previous one wrote: the crawl's CSV
must be directly usable by the training command.
"""

import json
import subprocess

import pytest

from text_similarity_model.settings import REPO_ROOT

from tests.support.tdc_site import FIXTURE_SITE, SiteServer, run_crawl
from tests.support.cli import run_cli

# Three subprocesses in a row: a crawl, a training, a query.
pytestmark = pytest.mark.slow

SPIDER_ARGS = {"years": "2018", "cities": "saopaulo,portoalegre"}


def model_command(*arguments: str) -> subprocess.CompletedProcess:
    """Run ``python -m text_similarity_model ARGUMENTS`` from the repository root."""
    completed = run_cli(*arguments, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.fixture(scope="module")
def crawled_model(tmp_path_factory):
    """Crawl the fixture site, train a model on the CSV; yields (crawl, model path)."""
    workdir = tmp_path_factory.mktemp("end_to_end")
    with SiteServer(FIXTURE_SITE) as site:
        crawl = run_crawl(site.base_url, workdir, SPIDER_ARGS)
    model_path = workdir / "model.pkl"
    model_command("train-file", str(crawl.output), str(model_path))
    return crawl, model_path


def test_a_query_returns_related_talks_from_the_crawl(crawled_model):
    crawl, model_path = crawled_model
    completed = model_command(
        "predict",
        str(model_path),
        "--title", "Programação assíncrona em Python",
        "--description", "Corrotinas, tarefas e o laço de eventos do asyncio na prática.",
        "-n", "5",
    )
    answer = json.loads(completed.stdout)
    predictions = answer["predictions"]
    crawled_titles = {row["title"] for row in crawl.rows}

    assert answer["version"]
    assert 1 <= len(predictions) <= 5
    assert {p["title"] for p in predictions} <= crawled_titles
    assert predictions[0]["title"] == "Async & await: concorrência sem mistério"
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)


def test_predictions_carry_the_crawled_track_and_edition(crawled_model):
    crawl, model_path = crawled_model
    completed = model_command(
        "predict", str(model_path), "--title", "Implantação de Kubernetes com Helm charts", "-n", "1"
    )
    [best] = json.loads(completed.stdout)["predictions"]
    crawled = next(row for row in crawl.rows if row["title"] == best["title"])
    assert best["title"] == "Empacotando aplicações com Helm"
    assert best["trilha"] == crawled["trilha"] == "workshop-kubernetes"
    assert best["trilha_url"] == crawled["trilha_url"]
    assert str(best["ano"]) == "2018"
