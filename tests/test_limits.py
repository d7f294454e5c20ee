"""What one request may ask for: text and filter lengths, blank text (issue #14)."""

import re
from urllib.parse import urlencode

import pandas as pd
import pytest

from api.schemas import MAX_FILTER_VALUE_LENGTH, MAX_FILTER_VALUES, MAX_TEXT_LENGTH
from text_similarity_model.contract import FILTER_COLUMNS, TEXT_COLUMNS

QUERY = {"title": "Kubernetes em produção", "description": "containers, deploy e observabilidade"}
EMPTY_MESSAGE = "title: is empty and so is description; give at least one of them"
SENDS = {"json": lambda client, body: client.post("/predict", json=body),
         "form": lambda client, body: client.post("/predict", data=body)}


def text_of(length: int) -> str:
    """Words of the corpus' kind, cut to exactly ``length`` characters."""
    return ("deploy de modelos com python " * (length // 29 + 1))[:length]


@pytest.mark.parametrize("send", SENDS)
@pytest.mark.parametrize("field", TEXT_COLUMNS)
def test_text_at_its_limit_is_answered(client, send, field):
    response = SENDS[send](client, {**QUERY, field: text_of(MAX_TEXT_LENGTH[field])})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["predictions"]


@pytest.mark.parametrize("send", SENDS)
@pytest.mark.parametrize("over", [1, 20_000])  # just over, and far over (the body stays under 64 KB)
@pytest.mark.parametrize("field", TEXT_COLUMNS)
def test_text_over_its_limit_is_400_naming_the_field_and_the_limit(client, send, field, over):
    response = SENDS[send](client, {**QUERY, field: text_of(MAX_TEXT_LENGTH[field] + over)})
    assert response.status_code == 400
    assert response.get_json()["message"] == f"{field}: Must be at most {MAX_TEXT_LENGTH[field]} characters; shorten it"


def test_the_limit_counts_characters_not_bytes(client):
    # "ç" is two bytes in UTF-8, one character, as the page's maxlength counts it.
    assert client.post("/predict", json={**QUERY, "title": "ç" * MAX_TEXT_LENGTH["title"]}).status_code == 200


@pytest.mark.parametrize("send", SENDS)
@pytest.mark.parametrize("blank", ["", " ", "   \n\t  ", "\u00a0\u3000", "\r\n"])
def test_blank_title_and_description_are_400_as_empty_ones(client, send, blank):
    response = SENDS[send](client, {"title": blank, "description": "\t" + blank})
    assert response.status_code == 400
    assert response.get_json()["message"] == EMPTY_MESSAGE


@pytest.mark.parametrize("send", SENDS)
def test_one_blank_field_is_fine_when_the_other_has_text(client, send):
    for body in ({"title": "   ", "description": "testes automatizados"}, {"title": "Kubernetes em produção", "description": "\n\n"}):
        response = SENDS[send](client, body)
        assert response.status_code == 200 and response.get_json()["predictions"]


@pytest.mark.parametrize("field", ["cidade", "trilha"])
def test_filter_values_at_and_over_their_length(client, field):
    at_limit = "x" * MAX_FILTER_VALUE_LENGTH
    assert client.post("/predict", json={**QUERY, field: at_limit}).status_code == 200
    for value in (at_limit + "x", "x" * 30_000):
        response = client.post("/predict", json={**QUERY, field: [value]})
        assert response.status_code == 400
        assert response.get_json()["message"] == f"{field}: Must be at most {MAX_FILTER_VALUE_LENGTH} characters"


@pytest.mark.parametrize("send", SENDS)
@pytest.mark.parametrize("field", FILTER_COLUMNS)
def test_filters_take_a_bounded_number_of_values(client, send, field):
    values = ["2018" if field == "ano" else "saopaulo"] * MAX_FILTER_VALUES
    assert SENDS[send](client, {**QUERY, field: values}).status_code == 200
    for count in (MAX_FILTER_VALUES + 1, 3_000):  # 3,000 repeated form fields stay under 64 KB
        response = SENDS[send](client, {**QUERY, field: (values * 30)[:count]})
        assert response.status_code == 400
        assert response.get_json()["message"] == f"{field}: Must have at most {MAX_FILTER_VALUES} values"


def test_empty_filter_values_count_too(client):
    # The document's maxItems counts the list as sent; so does the API.
    response = client.post("/predict", json={**QUERY, "cidade": [""] * (MAX_FILTER_VALUES + 1)})
    assert response.status_code == 400 and response.get_json()["message"].startswith("cidade: ")


def test_related_talks_filters_are_bounded_alike(client):
    at_limit = urlencode({"trilha": ["trilha-python"] * MAX_FILTER_VALUES}, doseq=True)
    assert client.get(f"/talks/0/related?{at_limit}").status_code == 200
    over = urlencode({"trilha": ["trilha-python"] * (MAX_FILTER_VALUES + 1)}, doseq=True)
    response = client.get(f"/talks/0/related?{over}")
    assert response.status_code == 400 and response.get_json()["message"].startswith("trilha: Must have at most")
    response = client.get("/talks/0/related?cidade=" + "x" * (MAX_FILTER_VALUE_LENGTH + 1))
    assert response.status_code == 400 and response.get_json()["message"].startswith("cidade: Must be at most")


def test_the_openapi_document_states_every_limit(client):
    document = client.get("/openapi.json").get_json()
    request = document["components"]["schemas"]["PredictRequest"]
    for field in TEXT_COLUMNS:
        assert request["properties"][field]["maxLength"] == MAX_TEXT_LENGTH[field]
        assert str(MAX_TEXT_LENGTH[field]) in request["properties"][field]["description"]
    assert request["anyOf"] == [{"properties": {field: {"pattern": r"\S"}}} for field in TEXT_COLUMNS]
    related = {parameter["name"]: parameter for parameter in document["paths"]["/talks/{index}/related"]["get"]["parameters"]}
    for field in FILTER_COLUMNS:
        one, many = request["properties"][field]["anyOf"]
        assert many == {"type": "array", "items": one, "maxItems": MAX_FILTER_VALUES}
        assert related[field]["schema"] == many
    for field in ("cidade", "trilha"):
        assert request["properties"][field]["anyOf"][0]["maxLength"] == MAX_FILTER_VALUE_LENGTH


def test_the_page_limits_its_fields_as_the_api_does(client):
    html = client.get("/").get_data(as_text=True)
    for field in TEXT_COLUMNS:
        tag = re.search(rf'<(input|textarea) id="{field}"[^>]*>', html).group(0)
        assert f'maxlength="{MAX_TEXT_LENGTH[field]}"' in tag
        assert f'aria-describedby="{field}-contador"' in tag
        assert f'id="{field}-contador"' in html


def corpus_limits_margin(talks: pd.DataFrame) -> dict[str, float]:
    """How many times each limit is the corpus' longest text."""
    return {field: MAX_TEXT_LENGTH[field] / talks[field].str.len().max() for field in TEXT_COLUMNS}


def test_the_limits_are_well_above_the_sample_corpus(sample_talks):
    assert min(corpus_limits_margin(sample_talks).values()) >= 2


@pytest.mark.real_corpus
def test_the_limits_are_well_above_every_real_talk(real_csv):
    talks = pd.read_csv(real_csv, dtype=str, keep_default_na=False)
    assert min(corpus_limits_margin(talks).values()) >= 2
    for field in ("cidade", "trilha"):
        assert talks[field].str.len().max() * 2 <= MAX_FILTER_VALUE_LENGTH
