"""Parse tests of the TDC spider and its item pipelines, on HtmlResponse objects.

Each case of the markup contract (``../shared/tdc-site/README.md``) is read
from the contract's two example pages or from the fixture site
(``fixtures/tdc_site/``), without network: the page's bytes are wrapped in an
``HtmlResponse`` and handed to the spider's callback.
"""

import pandas as pd
import pytest
from scrapy import Request
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from scraper.items import TALK_COLUMNS, TalkItem
from scraper.pipelines import (
    CleanTalkTextPipeline,
    DropDuplicateTalksPipeline,
    RequireDescriptionPipeline,
    ValidateTalkPipeline,
    html_to_text,
)
from scraper.spiders.tdc import DEFAULT_BASE_URL, Edition, TdcSpider
from text_similarity_model.settings import REPO_ROOT

from tests.support.tdc_site import FIXTURE_SITE, PageTalk, render_track_page

CONTRACT_PAGES = REPO_ROOT.parent / "shared" / "tdc-site"

BASE = "http://tdc.test"
SAO_PAULO_2018 = Edition(BASE, 2018, "saopaulo")
PORTO_ALEGRE_2018 = Edition(DEFAULT_BASE_URL, 2018, "portoalegre")


# --- Helpers ------------------------------------------------------------------


@pytest.fixture
def crawler():
    return get_crawler(TdcSpider)


@pytest.fixture
def spider(crawler):
    return TdcSpider.from_crawler(crawler)


def fixture_response(url_path: str, base: str = BASE) -> HtmlResponse:
    """The fixture site's page for ``url_path``, as the crawl would receive it."""
    body = (FIXTURE_SITE / (url_path.strip("/") + ".html")).read_bytes()
    return HtmlResponse(base + url_path, body=body, encoding="utf-8")


def contract_response(file_name: str, url: str) -> HtmlResponse:
    page = CONTRACT_PAGES / file_name
    if not page.exists():
        pytest.skip(f"contract example page {page} is absent")
    return HtmlResponse(url, body=page.read_bytes(), encoding="utf-8")


def parse(spider, response, edition=SAO_PAULO_2018):
    """Run the spider's callback; return (talk items, URLs it follows)."""
    talks, urls = [], []
    for output in spider.parse_page(response, edition):
        if isinstance(output, Request):
            urls.append(output.url)
        else:
            talks.append(output)
    return talks, urls


def cleaned(talks):
    """The talks after the text-cleaning pipeline, as (title, description) pairs."""
    pipeline = CleanTalkTextPipeline()
    return [
        (item.title, item.description)
        for item in (pipeline.process_item(talk) for talk in talks)
    ]


def talk_item(**fields):
    values = dict(
        title="Uma palestra",
        description="Uma descrição.",
        trilha="trilha-python",
        ano=2018,
        cidade="saopaulo",
        trilha_url=f"{BASE}/tdc/2018/saopaulo/trilha-python",
    )
    values.update(fields)
    return TalkItem(**values)


# --- The contract's example pages ---------------------------------------------


def test_example_edition_page_follows_edition_pages_only(spider):
    response = contract_response("edition-trilhas.html", PORTO_ALEGRE_2018.trilhas_url)
    talks, urls = parse(spider, response, PORTO_ALEGRE_2018)
    edition_url = f"{DEFAULT_BASE_URL}/tdc/2018/portoalegre"
    assert talks == []
    assert urls == [
        f"{edition_url}/trilha-devops",
        f"{edition_url}/trilha-machine-learning",
        f"{edition_url}/trilha-cancelada",
        f"{edition_url}/trilha-python",
        f"{edition_url}/inscricoes",
    ]


def test_example_track_page_pairs_titles_and_descriptions_by_id(spider):
    url = f"{DEFAULT_BASE_URL}/tdc/2018/portoalegre/trilha-python"
    talks, _ = parse(spider, contract_response("track-page.html", url), PORTO_ALEGRE_2018)
    pairs = dict(cleaned(talks))

    assert len(talks) == 13
    assert {(t.trilha, t.ano, t.cidade, t.trilha_url) for t in talks} == {
        ("trilha-python", 2018, "portoalegre", url)
    }
    # The keynote has no div.conteudo block: no description, not a neighbour's.
    assert pairs["Keynote: Python no TDC 2018"] is None
    # Blocks are out of schedule order; the #ID link pairs them anyway.
    assert pairs["Conhecendo Python"] == (
        "Vamos falar um pouco sobre uma das grandes linguagens de programação, Python. "
        "Não conhece ? Tem dúvidas para começar a programar ? Então aqui é o lugar certo "
        "para tirar suas dúvidas e começar a usar o Python!"
    )
    assert pairs["Python para DevOps"].startswith("Python é uma linguagem de programação")
    # <br> followed by a newline: one space.
    assert pairs["NLP: ou simplesmente como máquinas podem entender melhor as pessoas"].startswith(
        "Esta palestra tem o intuito de apresentar o que é Processamento"
    )
    # Padded title, entity, doubled space in the title.
    assert "Python para Geo(Django)" in pairs
    assert pairs["Python para Geo(Django)"] == "O mundo é movido por dados. Estima-se que"
    assert "OpenCV for Business & Society" in pairs
    assert "PySpark e AWS Elastic MapReduce: Processamento paralelo na Cloud" in pairs


# --- The fixture site, case by case --------------------------------------------


def test_edition_page_follows_each_track_once_and_nothing_outside_the_edition(spider):
    _, urls = parse(spider, fixture_response("/tdc/2018/saopaulo/trilhas"))
    edition_url = f"{BASE}/tdc/2018/saopaulo"
    assert urls == [
        f"{edition_url}/trilha-python",
        f"{edition_url}/trilha-devops",
        f"{edition_url}/trilha-dados",  # relative link
        f"{edition_url}/workshop-kubernetes",
        f"{edition_url}/trilha-cancelada",
        f"{edition_url}/inscricoes",
    ]
    # Left out: YouTube, javascript:;, #top, the 2017 edition, the page itself.


def test_rows_without_talk_link_and_links_outside_the_schedule_are_not_talks(spider):
    talks, _ = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-python"))
    # Five a.palestra in table.grade; "Abertura", "Almoço", "Coffee break"
    # and the a.palestra of the aside are not talks.
    assert [title for title, _ in cleaned(talks)] == [
        "Tipagem gradual em Python com mypy",
        "Async & await: concorrência sem mistério",
        "Keynote: o futuro do Python no Brasil",
        "Testes automatizados com pytest",
        "Django & Flask: quando usar cada um?",
    ]


def test_talk_without_description_block_gets_none(spider):
    talks, _ = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-python"))
    keynote = next(t for t in talks if "Keynote" in t.title)
    assert keynote.description is None


def test_br_strong_entities_and_padding_become_plain_text(spider):
    talks, _ = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-python"))
    pairs = dict(cleaned(talks))
    # <br> and <br/>, an inline <code>, &nbsp; and a newline inside the text.
    assert pairs["Async & await: concorrência sem mistério"] == (
        "O que acontece de verdade quando você escreve await? Vamos abrir o laço de "
        "eventos do asyncio, entender corrotinas, tarefas e futuros, e ver quando a "
        "programação assíncrona ajuda e quando atrapalha."
    )
    # <strong> is inline: no space added, even inside a word ("py<strong>test").
    assert pairs["Testes automatizados com pytest"] == (
        "Como escrever testes legíveis usando as fixtures, a parametrização e os plugins "
        "do pytest, sem transformar a suíte em um segundo sistema para manter."
    )
    # Named, numeric and escaped-markup entities.
    assert pairs["Django & Flask: quando usar cada um?"] == (
        "Comparamos os dois frameworks web mais populares do ecossistema com um caso "
        "real: uma API de pedidos de café escrita duas vezes. Spoiler: “depende” — mas "
        "você vai sair sabendo do quê. Para quem ama Python <3"
    )


def test_blocks_out_of_schedule_order_are_paired_by_id(spider):
    talks, _ = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-python"))
    pairs = dict(cleaned(talks))
    assert pairs["Tipagem gradual em Python com mypy"].startswith(
        "Anotações de tipo deixaram de ser novidade. Nesta palestra"
    )


def test_two_schedule_tables_on_one_page_and_a_talk_listed_twice(spider):
    talks, _ = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-devops"))
    # The spider reports what the page lists; the pipeline drops the repeat.
    assert [title for title, _ in cleaned(talks)] == [
        "Observabilidade além dos logs",
        "GitOps na prática",
        "Painel: cultura DevOps em empresas tradicionais",
        "Observabilidade além dos logs",
    ]


def test_empty_description_block_cleans_to_empty_text(spider):
    talks, _ = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-dados"))
    assert dict(cleaned(talks))["Painel: carreira em dados"] == ""


def test_track_slug_not_starting_with_trilha(spider):
    talks, urls = parse(spider, fixture_response("/tdc/2018/saopaulo/workshop-kubernetes"))
    assert {t.trilha for t in talks} == {"workshop-kubernetes"}
    # A track reachable only from another track page is followed too.
    assert f"{BASE}/tdc/2018/saopaulo/trilha-seguranca" in urls


def test_talk_link_with_the_page_url_before_the_id(spider):
    talks, urls = parse(spider, fixture_response("/tdc/2018/saopaulo/trilha-seguranca"))
    assert cleaned(talks) == [
        (
            "OWASP Top 10 para quem escreve código",
            "Injeção de SQL, XSS e controle de acesso quebrado vistos pelo lado de quem "
            "programa, com exemplos de correção em revisões de código.",
        )
    ]
    assert urls == []  # the talk link points back to the page itself


def test_page_without_schedule_has_no_talks(spider):
    talks, urls = parse(spider, fixture_response("/tdc/2018/saopaulo/inscricoes"))
    assert talks == []
    # The link to a talk is followed as its track page, without the fragment.
    assert urls == [f"{BASE}/tdc/2018/saopaulo/trilhas", f"{BASE}/tdc/2018/saopaulo/trilha-python"]


def test_edition_under_a_base_path_and_served_from_another_scheme(spider):
    mirror = Edition("http://tdc.test/espelho", 2018, "saopaulo")
    response = fixture_response("/tdc/2018/saopaulo/workshop-kubernetes", base="https://tdc.test/espelho")
    body = response.text.replace('href="/tdc/', 'href="/espelho/tdc/')
    _, urls = parse(spider, response.replace(body=body.encode()), mirror)
    assert urls == [
        "https://tdc.test/espelho/tdc/2018/saopaulo/trilhas",
        "https://tdc.test/espelho/tdc/2018/saopaulo/trilha-seguranca",
    ]


# --- Round trips through pages rendered like the site ---------------------------


def test_rendered_track_page_parses_back_to_its_talks(spider):
    schedule = [
        PageTalk("a", "  Testes <b> & \"aspas\"  ", "Primeira linha\nsegunda linha\n\nNovo parágrafo <3 & mais"),
        PageTalk("b", "Keynote sem descrição"),
        PageTalk("c", "Ferramentas de CI/CD", "Integração contínua com   espaços\r\nem excesso"),
        PageTalk("a", "  Testes <b> & \"aspas\"  ", "Primeira linha\nsegunda linha\n\nNovo parágrafo <3 & mais"),
    ]
    response = HtmlResponse(
        f"{BASE}/tdc/2018/saopaulo/trilha-qualidade",
        body=render_track_page("Qualidade", schedule).encode(),
        encoding="utf-8",
    )
    talks, _ = parse(spider, response)
    assert cleaned(talks) == [
        ('Testes <b> & "aspas"', "Primeira linha segunda linha Novo parágrafo <3 & mais"),
        ("Keynote sem descrição", None),
        ("Ferramentas de CI/CD", "Integração contínua com espaços em excesso"),
        ('Testes <b> & "aspas"', "Primeira linha segunda linha Novo parágrafo <3 & mais"),
    ]


@pytest.mark.real_corpus
def test_real_corpus_talks_survive_a_rendered_page(real_csv):
    # real_csv (conftest.py) skips when the shared corpus is absent.
    corpus = pd.read_csv(real_csv).head(300)
    schedule = [
        PageTalk(f"talk-{i}", row.title, row.description) for i, row in enumerate(corpus.itertuples())
    ]
    response = HtmlResponse(
        f"{BASE}/tdc/2018/saopaulo/trilha-tudo",
        body=render_track_page("Tudo", schedule).encode(),
        encoding="utf-8",
    )
    talks, _ = parse(TdcSpider(base_url=BASE), response)
    assert cleaned(talks) == [
        (" ".join(title.split()), " ".join(description.split()))
        for title, description in zip(corpus.title, corpus.description)
    ]


# --- Text cleaning --------------------------------------------------------------


@pytest.mark.parametrize(
    "fragment, text",
    [
        ('<a class="palestra" href="#x">\n   Título   com\tespaços\n </a>', "Título com espaços"),
        ("<p>um</p><p>dois</p>", "um dois"),
        ("<p>um<br>dois<br/>três</p>", "um dois três"),
        ("<p>Py<strong>thon</strong> e <em>R</em>.</p>", "Python e R."),
        ("<p>caf&eacute; &amp; p&atilde;o &#8212; &lt;3&nbsp;!</p>", "café & pão — <3 !"),
        ("<div class='descricao'>\n  <p>  </p>\n</div>", ""),
        ("texto sem marcação", "texto sem marcação"),
        ("", ""),
    ],
)
def test_html_to_text(fragment, text):
    assert html_to_text(fragment) == text


def test_cleaning_makes_ano_an_integer_and_keeps_a_missing_description_missing():
    item = CleanTalkTextPipeline().process_item(talk_item(ano=" 2018 ", description=None))
    assert item.ano == 2018
    assert item.description is None


# --- Dropping and counting --------------------------------------------------------


def test_talk_without_description_is_dropped_and_counted(crawler):
    pipeline = RequireDescriptionPipeline.from_crawler(crawler)
    for description in (None, ""):
        with pytest.raises(DropItem, match="without description"):
            pipeline.process_item(talk_item(description=description))
    assert crawler.stats.get_value("tdc/talks_without_description") == 2
    assert pipeline.process_item(talk_item()) == talk_item()


@pytest.mark.parametrize("column", [c for c in TALK_COLUMNS if c != "description"])
def test_talk_with_an_empty_field_is_dropped_and_counted(crawler, column):
    pipeline = ValidateTalkPipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match=column):
        pipeline.process_item(talk_item(**{column: ""}))
    assert crawler.stats.get_value("tdc/invalid_talks") == 1


def test_non_integer_ano_is_dropped(crawler):
    pipeline = ValidateTalkPipeline.from_crawler(crawler)
    item = CleanTalkTextPipeline().process_item(talk_item(ano="dois mil"))
    with pytest.raises(DropItem, match="ano"):
        pipeline.process_item(item)


def test_talk_listed_twice_on_a_page_is_written_once_and_counted(crawler):
    pipeline = DropDuplicateTalksPipeline.from_crawler(crawler)
    other_track = f"{BASE}/tdc/2018/saopaulo/trilha-dados"
    other_edition = f"{BASE}/tdc/2018/portoalegre/trilha-python"
    pipeline.process_item(talk_item())
    with pytest.raises(DropItem, match="listed twice"):
        pipeline.process_item(talk_item())
    # The same talk in another track or edition is another event: kept.
    pipeline.process_item(talk_item(trilha="trilha-dados", trilha_url=other_track))
    pipeline.process_item(talk_item(cidade="portoalegre", trilha_url=other_edition))
    # Same title, another description on the same page: another talk.
    pipeline.process_item(talk_item(description="Outra descrição."))
    assert crawler.stats.get_value("tdc/duplicate_talks") == 1


# --- Unavailable pages ----------------------------------------------------------


def http_error_failure(spider, url: str, status: int, edition=SAO_PAULO_2018) -> Failure:
    request = spider.page_request(url, edition)
    response = HtmlResponse(url, status=status, body=b"", request=request)
    failure = Failure(HttpError(response))
    failure.request = request
    return failure


def test_edition_not_found_is_skipped_and_counted(spider, crawler):
    spider.skip_unavailable_page(http_error_failure(spider, SAO_PAULO_2018.trilhas_url, 404))
    assert crawler.stats.get_value("tdc/editions_not_found") == 1
    assert crawler.stats.get_value("tdc/pages_not_found") is None


def test_broken_track_link_is_skipped_and_counted(spider, crawler, caplog):
    url = f"{BASE}/tdc/2018/saopaulo/trilha-cancelada"
    spider.skip_unavailable_page(http_error_failure(spider, url, 404))
    assert crawler.stats.get_value("tdc/pages_not_found") == 1
    assert "trilha-cancelada answered 404" in caplog.text


def test_other_failures_are_skipped_and_counted(spider, crawler):
    spider.skip_unavailable_page(http_error_failure(spider, f"{BASE}/tdc/2018/saopaulo/x", 503))
    assert crawler.stats.get_value("tdc/pages_failed") == 1


# --- Arguments ------------------------------------------------------------------


def test_default_editions_are_2014_to_2019_in_the_four_cities():
    editions = TdcSpider().editions()
    assert len(editions) == 24
    assert {e.ano for e in editions} == set(range(2014, 2020))
    assert {e.cidade for e in editions} == {"saopaulo", "florianopolis", "portoalegre", "belohorizonte"}
    assert editions[0].trilhas_url == f"{DEFAULT_BASE_URL}/tdc/2014/saopaulo/trilhas"


def test_arguments_choose_the_editions():
    spider = TdcSpider(base_url="http://127.0.0.1:8000/", years="2018, 2019", cities="saopaulo")
    assert [e.trilhas_url for e in spider.editions()] == [
        "http://127.0.0.1:8000/tdc/2018/saopaulo/trilhas",
        "http://127.0.0.1:8000/tdc/2019/saopaulo/trilhas",
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"years": "2018,dezoito"}, "years='2018,dezoito'"),
        ({"years": ","}, "years= is empty"),
        ({"cities": "São Paulo"}, "cities='São Paulo'"),
        ({"base_url": "www.thedevelopersconference.com.br"}, "base_url="),
    ],
)
def test_invalid_arguments_name_the_argument_and_the_fix(arguments, message):
    with pytest.raises(ValueError, match="e.g. -a") as error:
        TdcSpider(**arguments)
    assert message in str(error.value)
