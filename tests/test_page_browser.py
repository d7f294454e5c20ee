"""The page at ``/`` in a real browser: headless Chromium (Debian's package,
driven by Playwright) against a real gunicorn on loopback.

Screenshots of the main states go to tests/artifacts/ (not committed).
.ci/run installs Chromium and sets PALESTRAS_REQUIRE_BROWSER=1, so there a
missing browser fails these tests instead of skipping them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import requests

from api.schemas import MAX_TEXT_LENGTH
from tests.support.browser import chromium
from tests.support.servers import running_gunicorn
from tests.support.csv_files import csv_text

pytestmark = [pytest.mark.browser, pytest.mark.gunicorn]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

DESKTOP = {"width": 1100, "height": 900}
PHONE = {"width": 375, "height": 812}
TITLE = "Deploy de modelos de machine learning"
DESCRIPTION = "Uma API REST com Flask e scikit-learn servindo o modelo em produção."

# A talk whose every field tries to become markup or code on the page.
HOSTILE_TALK = {
    "title": 'Flask <img src=x onerror="window.pwned=1"> <b>negrito</b>',
    "description": "Flask sem medo <script>window.pwned=2</script>",
    "trilha": 'trilha-"><script>window.pwned=3</script>',
    "ano": "2019",
    "cidade": "</script><script>window.pwned=4</script>",
    "trilha_url": "javascript:window.pwned=5",
}


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def server(sample_talks, tmp_path_factory):
    """gunicorn serving the sample corpus plus one hostile talk."""
    from text_similarity_model import Model

    workdir = tmp_path_factory.mktemp("page")
    model = Model(version="page-test")
    model.train(pd.concat([sample_talks, pd.DataFrame([HOSTILE_TALK])], ignore_index=True))
    model.serialize(workdir / "model.pkl")
    with running_gunicorn(workdir / "model.pkl", workdir, workers=1) as server:
        yield server


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport=DESKTOP, locale="pt-BR")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.goto(server.url + "/")
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def search(page, title=TITLE, description=DESCRIPTION, n_results=5) -> None:
    page.locator("#title").press_sequentially(title)
    page.locator("#description").fill(description)
    page.locator("#n_results").fill(str(n_results))
    page.get_by_role("button", name="Buscar palestras").click()


def cards(page) -> list[dict]:
    """The cards on screen, once the answer is drawn."""
    page.locator("#resultados:not([aria-busy])").wait_for()
    return page.locator("#lista > li").evaluate_all(
        """items => items.map(item => ({
            index: Number(item.dataset.index),
            score: Number(item.dataset.score),
            title: item.querySelector("h3").textContent,
            facts: item.querySelector(".fatos")?.textContent ?? "",
            terms: [...item.querySelectorAll(".termo > span:first-child")].map(term => term.textContent),
            link: item.querySelector("a")?.getAttribute("href") ?? null,
        }))"""
    )


def api_predict(server, **fields) -> list[dict]:
    body = {"title": TITLE, "description": DESCRIPTION, "n_results": 5, **fields}
    response = requests.post(server.url + "/predict", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["predictions"]


def test_a_search_shows_cards_in_score_order_with_reasons(page, server):
    search(page)
    shown = cards(page)
    expected = api_predict(server)
    assert [card["index"] for card in shown] == [p["index"] for p in expected]
    assert len(shown) == 5
    scores = [card["score"] for card in shown]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    for card, prediction in zip(shown, expected):
        assert card["title"] == prediction["title"]
        assert str(prediction["ano"]) in card["facts"]
        assert card["terms"] == [term["term"] for term in prediction["terms"]] and card["terms"]
        assert card["link"] == prediction["trilha_url"]
    assert page.locator("#situacao").text_content() == "5 palestras encontradas."
    assert page.locator("#erro").text_content() == ""
    screenshot(page, "1-busca")
    assert page.errors == []


def test_a_search_shows_its_likely_tracks_in_one_line(page, server):
    search(page, title="Tipagem gradual em Python", description="type hints, mypy e pandas no Python 3")
    cards(page)
    body = {"title": "Tipagem gradual em Python", "description": "type hints, mypy e pandas no Python 3"}
    expected = requests.post(server.url + "/predict", json=body, timeout=10).json()["likely_tracks"]
    line = page.locator("#trilhas-provaveis")
    assert line.is_visible()
    assert line.text_content().startswith("Trilhas prováveis: Python (")
    assert line.text_content().count(" · ") == len(expected) - 1 == 2
    # A related talk's track is known: no line there.
    page.locator("#lista > li").first.get_by_role("button", name="Palestras relacionadas").click()
    page.get_by_role("heading", name=re.compile("^Relacionadas a")).wait_for()
    assert line.is_hidden()
    assert page.errors == []


def test_a_filter_keeps_only_matching_talks(page, server):
    page.get_by_label("2018").check()
    page.get_by_label("São Paulo").check()
    search(page)
    shown = cards(page)
    expected = api_predict(server, ano=[2018], cidade=["saopaulo"])
    assert [card["index"] for card in shown] == [p["index"] for p in expected]
    assert shown, "the sample corpus has related talks from São Paulo 2018"
    assert all("São Paulo" in card["facts"] and "2018" in card["facts"] for card in shown)
    screenshot(page, "2-filtro-ano-cidade")

    page.get_by_label("Trilha", exact=True).select_option("trilha-python")
    page.get_by_role("button", name="Buscar palestras").click()
    shown = cards(page)
    assert [card["index"] for card in shown] == [
        p["index"] for p in api_predict(server, ano=[2018], cidade=["saopaulo"], trilha="trilha-python")]
    assert all("Trilha Python" in card["facts"] for card in shown)
    assert page.errors == []


def test_walking_through_related_talks_and_back(page, server):
    search(page)
    first = cards(page)[0]
    page.locator("#lista > li").first.get_by_role("button", name="Palestras relacionadas").click()
    page.get_by_role("heading", name=f"Relacionadas a “{first['title']}”").wait_for()
    related = cards(page)
    expected = requests.get(f"{server.url}/talks/{first['index']}/related?n_results=5", timeout=10).json()
    assert [card["index"] for card in related] == [p["index"] for p in expected["predictions"]]
    assert first["index"] not in [card["index"] for card in related]
    assert page.evaluate("document.activeElement.id") == "titulo-resultados"  # keyboard users land there
    trail = page.get_by_role("navigation", name="Caminho percorrido")
    assert trail.is_visible()
    screenshot(page, "3-relacionadas")

    second = related[0]
    page.locator("#lista > li").first.get_by_role("button", name="Palestras relacionadas").click()
    page.get_by_role("heading", name=f"Relacionadas a “{second['title']}”").wait_for()
    assert trail.locator("li").all_text_contents() == ["Busca", first["title"], second["title"]]

    trail.get_by_role("button", name="Busca").click()
    assert page.get_by_role("heading", level=2).text_content().startswith("Parecidas com")
    assert [card["index"] for card in cards(page)] == [p["index"] for p in api_predict(server)]
    assert trail.is_hidden()
    assert page.errors == []


def test_an_api_error_is_shown_and_the_form_stays_usable(page, server):
    search(page)
    before = cards(page)
    # The browser's own check stops 999; lift it so the API itself answers.
    page.locator("#n_results").evaluate("field => field.removeAttribute('max')")
    page.locator("#n_results").fill("999")
    page.get_by_role("button", name="Buscar palestras").click()
    alert = page.get_by_role("alert")
    alert.filter(has_text="n_results").wait_for()
    assert re.search(r"erro 400\): n_results: Must be between 1 and 50", alert.text_content())
    assert page.get_by_role("button", name="Buscar palestras").is_enabled()
    assert [card["index"] for card in cards(page)] == [card["index"] for card in before]
    screenshot(page, "4-erro-da-api")

    page.locator("#n_results").fill("3")
    page.get_by_role("button", name="Buscar palestras").click()
    page.locator("#situacao", has_text="3 palestras encontradas.").wait_for()
    assert page.locator("#erro").text_content() == ""
    assert len(cards(page)) == 3


def test_a_talk_given_again_is_marked_on_its_card(page, server, sample_talks):
    """Sample talk 16 (São Paulo 2017) re-submitted, its title tweaked and a sentence rewritten."""
    original = sample_talks.iloc[16]
    title = original["title"].replace("Flask", "Flask e Docker")
    description = original["description"].replace(
        "Para cientistas de dados que querem ver seus modelos sendo usados de verdade.",
        "Ideal para quem faz ciência de dados e quer colocar os seus modelos no ar.")
    search(page, title=title, description=description)
    shown = cards(page)
    expected = api_predict(server, title=title, description=description)
    assert [p["same_talk"] for p in expected] == [True] + [False] * 4
    assert shown[0]["title"] == original["title"]
    marks = page.locator("#lista > li").evaluate_all(
        "items => items.map(item => item.querySelector('.ja-apresentada')?.textContent ?? null)")
    assert marks == ["Já apresentada em TDC São Paulo 2017"] + [None] * 4
    assert page.locator("#lista > li").first.get_by_text("Já apresentada em TDC São Paulo 2017").is_visible()
    screenshot(page, "6-ja-apresentada")
    assert page.errors == []


def test_empty_text_is_refused_on_the_page(page):
    page.get_by_role("button", name="Buscar palestras").click()
    assert page.locator("#erro").text_content() == "Escreva um título ou uma descrição para buscar."
    assert page.evaluate("document.activeElement.id") == "title"


def test_the_text_fields_take_what_the_api_takes_and_count_it(page):
    limit = MAX_TEXT_LENGTH["title"]
    counter = page.locator("#title-contador")
    assert counter.text_content() == f"0 de {limit} caracteres"
    page.locator("#title").press_sequentially("x" * (limit + 5))
    assert page.locator("#title").input_value() == "x" * limit
    assert counter.text_content() == f"{limit} de {limit} caracteres"
    description_limit = f"{MAX_TEXT_LENGTH['description']:,}".replace(",", ".")  # 4.000, as written in Portuguese
    assert page.locator("#description-contador").text_content() == f"0 de {description_limit} caracteres"


def test_phone_width_and_keyboard_only(browser, server):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="pt-BR")
    page = context.new_page()
    page.goto(server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Pular para os resultados"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Revisar submissões"  # the other page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "title"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused field must show it"
    page.keyboard.type(TITLE)
    page.keyboard.press("Tab")
    page.keyboard.type(DESCRIPTION)
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("4")
    page.keyboard.press("Tab")  # the first year
    page.keyboard.press("Space")
    page.locator("#n_results").press("Enter")  # submits, as in any form
    shown = cards(page)
    assert len(shown) > 0 and all(str(2016) in card["facts"] for card in shown)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    screenshot(page, "5-celular")

    related_button = page.locator("#lista > li").first.get_by_role("button", name="Palestras relacionadas")
    related_button.focus()
    page.keyboard.press("Enter")
    page.get_by_role("navigation", name="Caminho percorrido").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_text_from_the_corpus_is_never_markup(page, server):
    assert page.locator("#trilha option", has_text="<script>").count() == 1  # shown as text
    # The talk's own text as the query: it is the best match whatever the pipeline's weights.
    search(page, title=HOSTILE_TALK["title"], description=HOSTILE_TALK["description"], n_results=3)
    hostile = next(card for card in cards(page) if card["title"] == HOSTILE_TALK["title"])
    assert hostile["link"] is None, "a javascript: URL is never a link"
    assert page.locator("#lista img, #lista script, #lista b").count() == 0
    page.locator("#lista details").first.click()
    assert page.evaluate("window.pwned") is None
    assert page.errors == []


def test_the_page_loads_nothing_from_outside(browser, server):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/")
    search(page)
    cards(page)
    context.close()
    assert requested and all(url.startswith(server.url) or url.startswith("data:") for url in requested)


# -- Revisar submissões (/revisar) --------------------------------------------


def review_csv(sample_talks) -> str:
    """A call: a past talk sent again under a new title, one new talk sent twice
    (two co-speakers), one unlike any, and one whose title tries to be markup."""
    past = sample_talks.iloc[0]
    twice = "Como versionar dados e modelos com DVC, do notebook ao pipeline reproduzível, com métricas entre experimentos."
    rows = [
        {"id": "A1", "title": "Pandas sem mistério", "description": past["description"]},
        {"id": "B1", "title": "Versionando dados com DVC", "description": twice},
        {"id": "B2", "title": "Versionando dados com DVC", "description": twice.replace("do notebook", "desde o notebook")},
        {"id": "C1", "title": '=Jogos <img src=x onerror="window.pwned=6">', "description": "Leitores de tela em jogos."},
    ]
    return csv_text(rows)


def review_rows(page) -> list[dict]:
    page.locator("#tabela:not([hidden])").wait_for()
    return page.locator("#tabela tbody tr").evaluate_all(
        """rows => rows.map(row => ({
            id: row.cells[0].textContent,
            title: row.cells[1].textContent,
            marks: [...row.cells[2].querySelectorAll(".marca")].map(mark => mark.textContent),
            related: row.cells[3].querySelectorAll("li").length,
            visible: !row.hidden,
        }))"""
    )


def test_reviewing_a_call_shows_the_marks_first_and_downloads_the_csv(page, server, sample_talks):
    import csv
    import io

    from text_similarity_model.contract import TALK_COLUMNS
    from text_similarity_model.review.report import RELATED_COLUMNS, SUBMISSION_COLUMNS

    page.get_by_role("link", name="Revisar submissões").click()
    page.get_by_role("heading", name="Revisar submissões").wait_for()
    page.locator("#arquivo").set_input_files(
        files=[{"name": "chamada.csv", "mimeType": "text/csv", "buffer": review_csv(sample_talks).encode()}])
    page.locator("#n_results").fill("3")
    page.get_by_role("button", name="Revisar").click()
    rows = review_rows(page)

    past = sample_talks.iloc[0]
    assert [row["id"] for row in rows][:3] == ["A1", "B1", "B2"]  # the marked ones first
    assert rows[0]["marks"] == [f"Já apresentada em TDC {'São Paulo' if past['cidade'] == 'saopaulo' else past['cidade']} "
                                f"{past['ano']}"]
    assert rows[1]["marks"] == ["Duplicada: B2"] and rows[2]["marks"] == ["Duplicada: B1"]
    assert rows[3]["marks"] == [] and rows[3]["title"].startswith("=Jogos <img")  # shown as text
    assert all(row["related"] <= 3 for row in rows)
    situation = page.locator("#situacao").text_content()
    assert "4 submissões revisadas" in situation and "1 já apresentada" in situation and "1 grupo de duplicadas" in situation
    screenshot(page, "7-revisao")

    page.get_by_label("Só as já apresentadas ou duplicadas").check()
    assert [row["id"] for row in review_rows(page) if row["visible"]] == ["A1", "B1", "B2"]

    with page.expect_download() as download:
        page.get_by_role("button", name="Baixar CSV").click()
    lines = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert lines[0] == [*SUBMISSION_COLUMNS, *TALK_COLUMNS, "index", *RELATED_COLUMNS]  # the command line's columns
    assert {line[0] for line in lines[1:]} == {"A1", "B1", "B2", "C1"}
    assert {line[1] for line in lines[1:] if line[0] == "C1"} == {"'=Jogos <img src=x onerror=\"window.pwned=6\">"}  # not a formula
    assert page.locator("#tabela img").count() == 0 and page.evaluate("window.pwned") is None
    assert page.errors == []


def test_the_review_page_shows_the_suggested_tracks_and_filters_the_other_track_ones(page, server):
    import csv
    import io

    rows = [{"id": "P1", "title": "Tipagem gradual em Python", "description": "type hints e mypy", "track": "Mobile"},
            {"id": "P2", "title": "Tipagem gradual em Python", "description": "type hints e mypy", "track": "Python"},
            {"id": "P3", "title": "Tipagem em Python", "description": "type hints", "track": "Jardinagem"}]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["id", "title", "description", "track"])
    writer.writeheader()
    writer.writerows(rows)
    page.goto(server.url + "/revisar")
    page.locator("#arquivo").set_input_files(
        files=[{"name": "trilhas.csv", "mimeType": "text/csv", "buffer": text.getvalue().encode()}])
    page.get_by_role("button", name="Revisar").click()
    review_rows(page)
    assert "1 com trilha sugerida diferente da escolhida" in page.locator("#situacao").text_content()
    suggestions = page.locator("#tabela tbody td.sugestao").all_text_contents()
    assert all(text.startswith("Python (") for text in suggestions)
    assert "Submetida em Jardinagem: nenhuma trilha" in suggestions[2]  # Jardinagem: like no past track, said, not flagged
    page.get_by_label("Só as de trilha sugerida diferente da escolhida").check()
    shown = [row for row in review_rows(page) if row["visible"]]
    assert [row["id"] for row in shown] == ["P1"]
    assert "Submetida em Mobile; parece Python" in shown[0]["marks"]
    screenshot(page, "8-revisao-trilhas")
    assert page.errors == []


def test_a_csv_without_the_columns_is_refused_on_the_review_page(page, server):
    page.goto(server.url + "/revisar")
    page.locator("#arquivo").set_input_files(
        files=[{"name": "errado.csv", "mimeType": "text/csv", "buffer": "titulo,resumo\nFlask,API\n".encode()}])
    page.get_by_role("button", name="Revisar").click()
    page.locator("#erro:not(:empty)").wait_for()
    assert "description" in page.locator("#erro").text_content()
    assert page.locator("#tabela").is_hidden()
