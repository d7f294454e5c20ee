"""The real crawl, ``scrapy crawl tdc``, against the fixture site on 127.0.0.1.

The fixture site (``fixtures/tdc_site/``, described in its README) holds every
case of the markup contract; the server answers 500 once for
``trilha-dados``. The crawl runs once per module as a subprocess, exactly as
``make data`` runs it, and each test checks one promise of the issue.
"""

import pandas as pd
import pytest

from tests.support.tdc_site import FIXTURE_SITE, SiteServer, run_crawl

FLAKY_PAGE = "/tdc/2018/saopaulo/trilha-dados"
SPIDER_ARGS = {"years": "2018", "cities": "saopaulo,portoalegre,belohorizonte"}

TIPAGEM = (
    "Tipagem gradual em Python com mypy",
    "Anotações de tipo deixaram de ser novidade. Nesta palestra mostramos como adotar o mypy "
    "aos poucos em uma base de código grande, quais erros ele encontra e como convencer o time.",
)

#: Every talk the crawl must write: (title, description, trilha, cidade).
#: All are from 2018; trilha_url is the server's URL of the track.
EXPECTED_TALKS = [
    (*TIPAGEM, "trilha-python", "saopaulo"),
    (
        "Async & await: concorrência sem mistério",
        "O que acontece de verdade quando você escreve await? Vamos abrir o laço de eventos do "
        "asyncio, entender corrotinas, tarefas e futuros, e ver quando a programação assíncrona "
        "ajuda e quando atrapalha.",
        "trilha-python",
        "saopaulo",
    ),
    (
        "Testes automatizados com pytest",
        "Como escrever testes legíveis usando as fixtures, a parametrização e os plugins do "
        "pytest, sem transformar a suíte em um segundo sistema para manter.",
        "trilha-python",
        "saopaulo",
    ),
    (
        "Django & Flask: quando usar cada um?",
        "Comparamos os dois frameworks web mais populares do ecossistema com um caso real: uma "
        "API de pedidos de café escrita duas vezes. Spoiler: “depende” — mas você vai sair "
        "sabendo do quê. Para quem ama Python <3",
        "trilha-python",
        "saopaulo",
    ),
    (
        "Observabilidade além dos logs",
        "Métricas, rastreamento distribuído e logs estruturados contam juntos a história de uma "
        "requisição. Veja como instrumentar um serviço e encontrar a causa de uma lentidão em "
        "minutos.",
        "trilha-devops",
        "saopaulo",
    ),
    (
        "GitOps na prática",
        "Usar o repositório Git como fonte da verdade da infraestrutura: implantações "
        "declarativas, revisões por pull request e reversões com um git revert.",
        "trilha-devops",
        "saopaulo",
    ),
    (
        "Pipelines de dados confiáveis com Airflow",
        "Tarefas idempotentes, reprocessamento de partições e alertas que fazem sentido: lições "
        "de dois anos operando o Airflow em produção.",
        "trilha-dados",
        "saopaulo",
    ),
    # The same talk in another track of the edition: another row.
    (*TIPAGEM, "trilha-dados", "saopaulo"),
    (
        "Kubernetes: primeiros passos",
        "Pods, deployments e services explicados com um cluster local. Traga seu notebook com "
        "Docker instalado.",
        "workshop-kubernetes",
        "saopaulo",
    ),
    (
        "Empacotando aplicações com Helm",
        "Charts, valores e versões: como distribuir uma aplicação para vários ambientes sem "
        "copiar arquivos YAML.",
        "workshop-kubernetes",
        "saopaulo",
    ),
    (
        "OWASP Top 10 para quem escreve código",
        "Injeção de SQL, XSS e controle de acesso quebrado vistos pelo lado de quem programa, "
        "com exemplos de correção em revisões de código.",
        "trilha-seguranca",
        "saopaulo",
    ),
    # The same talk in another edition: another row.
    (*TIPAGEM, "trilha-python", "portoalegre"),
    (
        "Pandas sem sofrimento",
        "Operações vetorizadas, tipos categóricos e leitura em blocos para analisar arquivos de "
        "vários gigabytes em um notebook comum.",
        "trilha-python",
        "portoalegre",
    ),
]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    """Serve the fixture site and crawl it once; yields (result, server)."""
    with SiteServer(FIXTURE_SITE, fail_once_paths={FLAKY_PAGE}) as site:
        result = run_crawl(site.base_url, tmp_path_factory.mktemp("crawl"), SPIDER_ARGS, timeout=120)
        yield result, site


def expected_rows(base_url: str) -> list[dict[str, str]]:
    return [
        {
            "title": title,
            "description": description,
            "trilha": trilha,
            "ano": "2018",
            "cidade": cidade,
            "trilha_url": f"{base_url}/tdc/2018/{cidade}/{trilha}",
        }
        for title, description, trilha, cidade in EXPECTED_TALKS
    ]


def sort_key(row: dict[str, str]):
    return row["trilha_url"], row["title"]


def test_csv_has_the_training_columns_in_order(crawl):
    result, _ = crawl
    assert result.header == ["title", "description", "trilha", "ano", "cidade", "trilha_url"]


def test_csv_holds_exactly_the_expected_talks(crawl):
    result, site = crawl
    # Row by row, so a failure names the talk that differs.
    expected = sorted(expected_rows(site.base_url), key=sort_key)
    crawled = sorted(result.rows, key=sort_key)
    for expected_row, crawled_row in zip(expected, crawled):
        assert crawled_row == expected_row
    assert len(crawled) == len(expected)


def test_dropped_and_duplicate_talks_are_counted_in_the_stats(crawl):
    result, _ = crawl
    # Keynote (python), panel (devops), panel with an empty block (dados).
    assert result.stats["tdc/talks_without_description"] == 3
    # "Observabilidade além dos logs", in both tables of trilha-devops.
    assert result.stats["tdc/duplicate_talks"] == 1
    assert result.stats["tdc/invalid_talks"] == 0
    assert result.stats["item_scraped_count"] == len(EXPECTED_TALKS)


def test_missing_edition_and_broken_track_are_logged_and_skipped(crawl):
    result, _ = crawl
    assert result.stats["finish_reason"] == "finished"
    assert result.stats["tdc/editions_not_found"] == 1
    assert result.stats["tdc/pages_not_found"] == 1
    assert result.stats["tdc/pages_failed"] == 0
    assert "Edition 2018 belohorizonte not found" in result.log
    assert "trilha-cancelada answered 404" in result.log
    assert "Crawl report (finished): talks written 13, dropped without description 3, duplicates dropped 1" in result.log


def test_page_failing_once_with_500_is_retried(crawl):
    result, site = crawl
    assert site.requests[FLAKY_PAGE] == 2
    assert result.stats["retry/count"] == 1


def test_every_edition_page_is_requested_once_and_nothing_else(crawl):
    _, site = crawl
    assert dict(site.requests) == {
        "/robots.txt": 1,
        "/tdc/2018/saopaulo/trilhas": 1,
        "/tdc/2018/saopaulo/trilha-python": 1,
        "/tdc/2018/saopaulo/trilha-devops": 1,
        FLAKY_PAGE: 2,
        "/tdc/2018/saopaulo/workshop-kubernetes": 1,
        "/tdc/2018/saopaulo/trilha-seguranca": 1,
        "/tdc/2018/saopaulo/trilha-cancelada": 1,
        "/tdc/2018/saopaulo/inscricoes": 1,
        "/tdc/2018/portoalegre/trilhas": 1,
        "/tdc/2018/portoalegre/trilha-python": 1,
        "/tdc/2018/belohorizonte/trilhas": 1,
    }
    # Not requested: the 2017 edition linked from 2018, YouTube, javascript:;.


def test_csv_reads_as_the_training_data(crawl):
    result, _ = crawl
    talks = pd.read_csv(result.output)
    assert list(talks.columns) == ["title", "description", "trilha", "ano", "cidade", "trilha_url"]
    assert talks["ano"].dtype.kind == "i"
    assert talks.notna().all().all()
