"""What one request may ask for: text and filter lengths, blank text (issue #14)."""

import json
import re
import socket
from urllib.parse import urlencode, urlsplit

import pandas as pd
import pytest
import requests

from api.schemas import (MAX_DIGITS, MAX_FILTER_VALUE_LENGTH, MAX_FILTER_VALUES, MAX_REQUEST_LINE, MAX_RESULTS,
                         MAX_TEXT_LENGTH, MAX_YEAR, URL_SAFE)
from tests.support.queries import QUERY
from tests.support.servers import running_gunicorn
from text_similarity_model.contract import FILTER_COLUMNS, TEXT_COLUMNS

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
        if field == "ano":
            assert related[field]["schema"] == many
    for field in ("cidade", "trilha"):
        assert request["properties"][field]["anyOf"][0]["maxLength"] == MAX_FILTER_VALUE_LENGTH
        # In the query string, a value is made of characters a URL carries as they are.
        assert related[field]["schema"] == {"type": "array", "maxItems": MAX_FILTER_VALUES, "items": {
            "type": "string", "maxLength": MAX_FILTER_VALUE_LENGTH, "pattern": f"^{URL_SAFE.pattern}$"}}
    # Every whole number: an integer in range, or at most MAX_DIGITS digits.
    year, year_digits = request["properties"]["ano"]["anyOf"][0]["anyOf"]
    assert year["maximum"] == MAX_YEAR and year_digits["maxLength"] == MAX_DIGITS
    assert related["n_results"]["schema"]["anyOf"][1]["maxLength"] == MAX_DIGITS
    assert related["index"]["schema"]["maximum"] == 2**31 - 1


@pytest.mark.parametrize("query, message", [
    ("cidade=s%C3%A3opaulo", "cidade: Must be made of letters, digits and - . _ ~, as GET /facets lists the values"),
    ("trilha=trilha%20python", "trilha: Must be made of letters, digits and - . _ ~, as GET /facets lists the values"),
    (f"ano={MAX_YEAR + 1}", f"ano: Must be greater than or equal to 0 and less than or equal to {MAX_YEAR}"),
    ("n_results=" + "0" * MAX_DIGITS + "5", f"n_results: Must be a whole number of at most {MAX_DIGITS} digits"),
])
def test_query_values_beyond_the_document_are_400(client, query, message):
    response = client.get(f"/talks/0/related?{query}")
    assert response.status_code == 400
    assert response.get_json()["message"] == message


def longest_related_query() -> str:
    """The longest query string the OpenAPI document allows on GET /talks/<index>/related
    (test_the_openapi_document_states_every_limit holds the document to these limits):
    every filter with its most values, each at its longest; numbers as digits with leading zeros."""
    digits = ("0" * MAX_DIGITS + str(MAX_RESULTS))[-MAX_DIGITS:]
    year = ("0" * MAX_DIGITS + "2018")[-MAX_DIGITS:]
    return urlencode({"n_results": digits, "ano": [year] * MAX_FILTER_VALUES,
                      "cidade": ["c" * MAX_FILTER_VALUE_LENGTH] * MAX_FILTER_VALUES,
                      "trilha": ["t" * MAX_FILTER_VALUE_LENGTH] * MAX_FILTER_VALUES}, doseq=True)


@pytest.fixture(scope="module")
def server(sample_model_path, tmp_path_factory):
    with running_gunicorn(sample_model_path, tmp_path_factory.mktemp("gunicorn"), workers=1) as server:
        yield server


@pytest.mark.gunicorn
def test_the_longest_query_string_the_document_allows_is_answered_by_gunicorn(server):
    query = longest_related_query()
    assert URL_SAFE.fullmatch(query.replace("=", "").replace("&", ""))  # no byte is percent-encoded
    line = f"GET /talks/0/related?{query} HTTP/1.1"
    # The document's largest index has 10 digits where this request has 1.
    assert len(line) + len(str(2**31 - 1)) - 1 <= MAX_REQUEST_LINE
    response = requests.get(f"{server.url}/talks/0/related?{query}", timeout=30)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["predictions"] == []  # no talk has those cities


def raw_exchange(url: str, request: bytes) -> tuple[int, dict, bytes]:
    """Send ``request`` as it is on a new connection; the answer's status, headers and body."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}, body


@pytest.mark.gunicorn
@pytest.mark.parametrize("request_bytes, status, says", [
    (b"GET /talks/0/related?cidade=" + b"x" * MAX_REQUEST_LINE + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414,
     "send fewer or shorter query parameters"),
    (b"GET /health HTTP/1.1\r\nHost: a\r\nX-Long: " + b"x" * 9000 + b"\r\n\r\n", 431, "send fewer or shorter headers"),
    (b"GET /health HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400, "send a well-formed HTTP/1.1 request"),
    (b"NOT HTTP\r\n\r\n", 400, "send a well-formed HTTP/1.1 request"),
])
def test_what_gunicorn_refuses_itself_is_json_as_the_api_s_errors(server, request_bytes, status, says):
    answered, headers, body = raw_exchange(server.url, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert says in json.loads(body)["message"]


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
    for field in ("cidade", "trilha"):
        assert sample_talks[field].map(URL_SAFE.fullmatch).all()


@pytest.mark.real_corpus
def test_the_limits_are_well_above_every_real_talk(real_csv):
    talks = pd.read_csv(real_csv, dtype=str, keep_default_na=False)
    assert min(corpus_limits_margin(talks).values()) >= 2
    for field in ("cidade", "trilha"):
        assert talks[field].str.len().max() * 2 <= MAX_FILTER_VALUE_LENGTH
        # Every value can be asked for in GET /talks/<index>/related's query string.
        assert talks[field].map(URL_SAFE.fullmatch).all()
    assert pd.to_numeric(talks["ano"]).max() <= MAX_YEAR
