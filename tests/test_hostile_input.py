"""Hostile and broken input: always a clear 4xx or a 200, never a 500."""

import json
import select
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from api.schemas import MAX_TEXT_LENGTH
from tests.support.queries import QUERY
from tests.support.servers import running_gunicorn


WRONG_TYPES = [1.5, [1, 2], ["texto"], None, {"a": {"b": 1}}, True]


@pytest.mark.parametrize("field, value", [(field, value) for field in ("title", "description") for value in [12, *WRONG_TYPES]]
                         + [("n_results", value) for value in WRONG_TYPES])
def test_json_of_the_wrong_type_is_400_naming_the_field(client, field, value):
    response = client.post("/predict", json={**QUERY, field: value})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["message"].startswith(field)


@pytest.mark.parametrize("n_results", [0, -1, 10**9, "abc", "", " 5", "5.5", "1e3", 51])
def test_out_of_range_or_malformed_n_results(client, n_results):
    response = client.post("/predict", json={**QUERY, "n_results": n_results})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("n_results")
    response = client.post("/predict", data={**QUERY, "n_results": n_results})
    assert response.status_code == 400


def test_unknown_fields_are_ignored(client):
    response = client.post("/predict", json={**QUERY, "autor": "alguém", "n_results": 2, "extra": {"x": [1]}})
    assert response.status_code == 200 and len(response.get_json()["predictions"]) == 2


def test_a_single_word_as_long_as_the_title_may_be(client):
    response = client.post("/predict", json={"title": "a" * MAX_TEXT_LENGTH["title"], "description": ""})
    assert response.status_code == 200
    assert response.get_json()["predictions"] == []


@pytest.mark.parametrize("text", ["de para com o a os as um uma", "!!! ... ??? --- ;;; ()", "2019 42 3.14"])
def test_text_without_content_words_gives_an_empty_list(client, text):
    response = client.post("/predict", json={"title": text, "description": text})
    assert response.status_code == 200
    assert response.get_json()["predictions"] == []


@pytest.mark.parametrize("text", ["🚀🐍 deploy de modelos 🤖", "Привет мир, машинное обучение", "機械学習とPython",
                                  "مرحبا بالعالم", "\u200b\u200d\ufeff", "\ud800 surrogate", "nul\x00byte"])
def test_emoji_other_scripts_and_odd_code_points(client, text):
    response = client.post("/predict", json={"title": text, "description": "Python"})
    assert response.status_code == 200
    assert isinstance(response.get_json()["predictions"], list)


def test_html_in_input_is_never_reflected_as_html(client):
    response = client.post("/predict", json={"title": "<script>alert(1)</script>", "description": ""})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "<script>" not in response.get_data(as_text=True)


def test_an_unexpected_error_is_json_without_a_traceback(app):
    @app.route("/boom")
    def boom():
        raise RuntimeError("segredo interno")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"message": "internal error; it is logged on the server"}
    assert "segredo" not in response.get_data(as_text=True)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert not app.debug


# -- through gunicorn: what a worker does with it ------------------------------------------------

BODY_SECONDS = 1  # REQUEST_BODY_SECONDS of the server below


@pytest.fixture(scope="module")
def server(sample_model_path, tmp_path_factory):
    with running_gunicorn(sample_model_path, tmp_path_factory.mktemp("gunicorn"), workers=1,
                          extra_env={"REQUEST_BODY_SECONDS": str(BODY_SECONDS)}) as server:
        yield server


DEEP = 30_000
NESTED = "[" * DEEP + "]" * DEEP


def speakers_nested(depth: int) -> str:
    return '{"results": [{"title": "Flask", "description": "APIs", "speakers": ' + "[" * depth + "]" * depth + "}]}"


@pytest.mark.gunicorn
@pytest.mark.parametrize("path, body, says", [
    ("/predict", NESTED, "body nests lists or objects too deep to read"),
    ("/predict", '{"title": ' + NESTED + ', "description": ""}', "body nests lists or objects too deep to read"),
    ("/review", NESTED, "body: submission 1 nests lists or objects too deep to read"),
    ("/review", speakers_nested(DEEP), "body: submission 1 nests lists or objects too deep to read"),
    # Shallow enough for the JSON decoder, too deep for a list of speakers.
    ("/review", speakers_nested(500), "submission 1: speakers nests deeper than 4 levels"),
    ("/review", '[{"title": "Flask", "description": "APIs", "votos": ' + "1" * 5000 + "}]",
     "body: submission 1 has a number of over 4,300 digits"),
])
def test_json_nested_deep_or_numbers_too_long_are_400_with_a_message(server, path, body, says):
    response = requests.post(server.url + path, data=body.encode(), headers={"Content-Type": "application/json"},
                             timeout=60)
    assert response.status_code == 400, response.text[:300]
    assert says in response.json()["message"]
    assert "Traceback" not in server.log()


def answer_to_a_trickled_body(url: str, path: str, content_type: str, first: bytes) -> bytes:
    """Headers announcing 60,000 bytes (under every body limit), then ``first``, then a space every 0.1 s
    until the server answers (or 60 s pass: a server that never answers fails)."""
    address = urlsplit(url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: {content_type}\r\n"
            "Content-Length: 60000\r\n\r\n").encode()
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(head + first)
        give_up = time.monotonic() + 60
        while not select.select([connection], [], [], 0.1)[0]:
            if time.monotonic() > give_up:
                return b""
            connection.sendall(b" ")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _length(answer: bytes) -> int:
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    return int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]) if "content-length:" in head else 0


@pytest.mark.gunicorn
@pytest.mark.parametrize("path, content_type, first", [
    ("/predict", "application/json", b'{"title": "Flask",'),
    ("/predict", "application/x-www-form-urlencoded", b"title=Flask&description="),
    ("/review", "application/json", b'[{"title": "Flask", "description": "APIs"},'),
    ("/review", "text/csv", b"title,description\nFlask,APIs\n"),
])
def test_a_body_trickled_after_the_headers_gets_408_and_frees_the_worker(server, path, content_type, first):
    answer = answer_to_a_trickled_body(server.url, path, content_type, first)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    message = json.loads(answer.partition(b"\r\n\r\n")[2])["message"]
    assert message.startswith(f"request body not received within {BODY_SECONDS:g} s")
    assert requests.get(server.url + "/health", timeout=10).status_code == 200


class UnseenWords:
    """Nine-letter words, never the same twice: the n-th is n written in base 26."""

    def __init__(self):
        self.count = 0

    def take(self, number: int) -> str:
        words = []
        for value in range(self.count, self.count + number):
            letters = []
            for _ in range(9):
                value, digit = divmod(value, 26)
                letters.append(chr(ord("a") + digit))
            words.append("".join(letters))
        self.count += number
        return " ".join(words)


def worker_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


@pytest.mark.gunicorn
@pytest.mark.slow
def test_predictions_of_new_words_leave_a_worker_s_memory_bounded(server):
    """spaCy keeps every word it meets for the life of the process unless told
    otherwise: 1,000 predictions of 400 new words each grew a worker by ~200 MB."""
    words, session = UnseenWords(), requests.Session()

    def predict(count: int) -> None:
        for _ in range(count):
            response = session.post(server.url + "/predict", json={"title": "", "description": words.take(400)},
                                    timeout=30)
            assert response.status_code == 200

    [worker] = server.worker_pids()
    predict(600)  # fills the lemmatizer's own caches of words, bounded at 200,000 each
    before = worker_rss_mb(worker)
    predict(1000)
    assert server.worker_pids() == [worker]  # the same worker throughout
    assert worker_rss_mb(worker) - before < 40
