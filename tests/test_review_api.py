"""POST /review: a batch of a call's submissions through the API, and what
the request log keeps of it (nothing of their text)."""

from __future__ import annotations

import csv
import io
import json
import select
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests
from pathlib import Path

from api import create_app
from api.review import MAX_REVIEW_RESULTS, MAX_REVIEW_TEXT, MAX_SUBMISSIONS
from api.schemas import MAX_RESULTS, MAX_TEXT_LENGTH
from tests.support.servers import running_gunicorn

# A marker no corpus has: found anywhere in the request log, a submission leaked.
SECRET = "Zyxwvut confidencial"


@pytest.fixture
def batch(sample_talks) -> list[dict]:
    """Four submissions: a past talk sent again with a changed title, the same
    new talk sent by two co-speakers (one edits a sentence), and a fourth unlike any."""
    past = sample_talks.iloc[0]
    new_description = (f"{SECRET}: como versionar dados e modelos com DVC, do notebook ao pipeline reproduzível, "
                       "com armazenamento remoto, métricas comparadas entre experimentos e integração contínua.")
    return [
        {"id": "A1", "title": "Pandas sem mistério", "description": past["description"]},
        {"id": "B1", "title": "Versionando dados com DVC", "description": new_description, "speaker": "Ana"},
        {"id": "B2", "title": "Versionando dados com DVC", "description": new_description.replace("do notebook", "desde o notebook"),
         "speaker": "Bia"},
        {"id": "C1", "title": "Acessibilidade em jogos para celular", "description": "Leitores de tela, contraste e legendas em jogos."},
    ]


def by_id(answer: dict) -> dict:
    return {submission["id"]: submission for submission in answer["submissions"]}


def test_a_batch_tells_the_given_again_and_the_duplicates(client, batch, sample_talks):
    response = client.post("/review", json=batch)
    assert response.status_code == 200, response.json
    answer = response.json
    found = by_id(answer)
    assert list(found) == ["A1", "B1", "B2", "C1"]
    assert found["A1"]["related"][0]["title"] == sample_talks.iloc[0]["title"]
    assert found["A1"]["related"][0]["same_talk"] is True
    assert found["B1"]["duplicates"] == ["B2"] and found["B2"]["duplicates"] == ["B1"]
    assert found["A1"]["duplicates"] == [] and found["C1"]["duplicates"] == []
    assert not any(talk["same_talk"] for talk in found["C1"]["related"])
    assert found["B1"]["fields"] == {"speaker": "Ana"}
    assert all(len(submission["related"]) <= 5 for submission in answer["submissions"])  # the command line's -n 5
    assert answer["summary"] | {"format": None} == answer["summary"] | {
        "format": None, "submissions": 4, "already_given": 1, "duplicate_groups": 1, "in_duplicate_groups": 2}
    assert answer["model_version"] == client.get("/version").json["model_version"]


def test_a_csv_body_gets_the_same_review_as_json(client, batch):
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["id", "title", "description", "speaker"])
    writer.writeheader()
    writer.writerows(batch)
    from_csv = client.post("/review?n_results=2", data=text.getvalue().encode(), content_type="text/csv")
    from_json = client.post("/review?n_results=2", json=batch)
    assert from_csv.status_code == 200, from_csv.json
    assert [(s["id"], s["duplicates"], [t["index"] for t in s["related"]]) for s in from_csv.json["submissions"]] == \
           [(s["id"], s["duplicates"], [t["index"] for t in s["related"]]) for s in from_json.json["submissions"]]
    assert all(len(s["related"]) <= 2 for s in from_csv.json["submissions"])
    assert from_csv.json["summary"]["format"] == "CSV"


def test_pretalx_s_saved_response_is_read_with_abstract_and_description(client, sample_talks):
    talk = sample_talks.iloc[1]
    first, rest = talk["description"].split(". ", 1)
    page = {"count": 1, "next": None, "results": [
        {"code": "XK9P2A", "title": talk["title"], "abstract": first + ".", "description": rest,
         "track": {"pt-br": "Python", "en": "Python"}}]}
    response = client.post("/review", json=page)
    assert response.status_code == 200, response.json
    submission = response.json["submissions"][0]
    assert submission["id"] == "XK9P2A"
    assert submission["related"][0]["same_talk"] is True and submission["related"][0]["title"] == talk["title"]


def test_ids_are_row_numbers_when_the_submissions_have_none(client):
    answer = client.post("/review", json=[{"title": "Flask", "description": ""}, {"title": "", "description": "Kotlin"}]).json
    assert [s["id"] for s in answer["submissions"]] == [1, 2]


def test_blank_submissions_are_counted_as_skipped(client):
    answer = client.post("/review", json=[{"title": "Flask", "description": ""}, {"title": "  ", "description": ""}]).json
    assert answer["summary"]["submissions"] == 1
    assert sum(answer["summary"]["skipped"].values()) == 1
    # All of them too: the OpenAPI document (JSON Schema) can't require one submission of a list to have text.
    answer = client.post("/review", json=[{"abstract": ""}, {"title": " ", "description": None}]).json
    assert answer["summary"]["submissions"] == 0 and answer["summary"]["skipped"] == {"no text": 2}
    assert answer["submissions"] == []


def as_csv(submissions: list[dict]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["title", "description"])
    writer.writeheader()
    writer.writerows(submissions)
    return text.getvalue().encode()


@pytest.mark.parametrize("send", ["json", "csv"])
def test_more_submissions_than_the_limit_are_400_naming_it_and_the_command_line(client, send):
    # JSON Schema's maxItems: the OpenAPI document says such a list is invalid, so it is a 400 as any invalid
    # request (413 is for a body over its byte limit); a CSV of as many rows gets the same answer.
    def post(count):
        submissions = [{"title": f"Palestra {i}", "description": ""} for i in range(count)]
        if send == "json":
            return client.post("/review", json=submissions)
        return client.post("/review", data=as_csv(submissions), content_type="text/csv")

    response = post(MAX_SUBMISSIONS + 1)
    assert response.status_code == 400
    assert f"at most {MAX_SUBMISSIONS} submissions" in response.json["message"]
    assert "text_similarity_model review" in response.json["message"]
    assert post(MAX_SUBMISSIONS).status_code == 200


def test_a_body_over_its_limit_is_refused_naming_the_command_line(client):
    huge = b'[{"title": "x", "description": "' + b"a" * (9 * 1024 * 1024) + b'"}]'
    response = client.post("/review", data=huge, content_type="application/json")
    assert response.status_code == 413
    assert "text_similarity_model review" in response.json["message"]


def worker_memory_mb(pid: int, field: str) -> float:
    """A size line of /proc/<pid>/status (VmRSS: now, VmHWM: the peak), in MB."""
    return int(Path(f"/proc/{pid}/status").read_text().split(f"{field}:")[1].split()[0]) / 1024


def post_until_answered(url: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    """POST ``body`` on a new connection, sending no more of it once the server has answered."""
    address = urlsplit(url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    data, sent, answer = memoryview(head + body), 0, b""
    with socket.create_connection((address.hostname, address.port), timeout=60) as connection:
        try:
            while sent < len(data) and not select.select([connection], [], [], 0)[0]:
                sent += connection.send(data[sent:sent + 65536])
        except (BrokenPipeError, ConnectionResetError):  # the server answered and closed meanwhile
            pass
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:  # closed with our body still arriving: the answer came first
            pass
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


@pytest.mark.gunicorn
@pytest.mark.parametrize("content_type, body", [
    ("text/csv", b"title,description\n" + b"a\n" * 4_000_000),  # 8 MB: 4 million one-character rows
    ("application/json", b"[" + b"{}," * 2_666_665 + b"{}]"),  # 8 MB: 2.7 million empty submissions
])
def test_a_refused_8_mb_body_costs_a_worker_tens_of_mb_at_most(sample_model_path, tmp_path, content_type, body):
    # Counted as they are read: the 501st submission is refused at once, nothing after it is built.
    with running_gunicorn(sample_model_path, tmp_path, workers=1) as server:
        [worker] = server.worker_pids()
        assert requests.post(server.url + "/review", json=[{"title": "Flask", "description": ""}], timeout=30).ok
        Path(f"/proc/{worker}/clear_refs").write_text("5")  # the peak (VmHWM) starts again from now
        before = worker_memory_mb(worker, "VmRSS")
        status, answer = post_until_answered(server.url, "/review", body, content_type)
        peak = worker_memory_mb(worker, "VmHWM")
    assert status == 400 and f"at most {MAX_SUBMISSIONS} submissions" in answer["message"]
    assert peak - before < 40


def test_text_over_the_budget_is_413_naming_the_budget_and_the_command_line(client):
    # Words the lemmatizer has seen: this test checks the count, not what costly text costs.
    text = ("deploy de modelos com python " * 200)[:MAX_TEXT_LENGTH["description"]]
    count, rest = divmod(MAX_REVIEW_TEXT, len(text))
    at_budget = [{"title": "", "description": text}] * count + [{"title": "", "description": text[:rest]}]
    assert sum(len(s["title"]) + len(s["description"]) for s in at_budget) == MAX_REVIEW_TEXT
    assert len(at_budget) <= MAX_SUBMISSIONS
    assert client.post("/review", json=at_budget).status_code == 200
    over = at_budget[:-1] + [{"title": "x", "description": text[:rest]}]
    response = client.post("/review", json=over)
    assert response.status_code == 413
    assert f"at most {MAX_REVIEW_TEXT:,} characters of text" in response.json["message"]
    assert "text_similarity_model review" in response.json["message"]
    # pretalx's abstract counts as the description it joins.
    response = client.post("/review", json=over[:-1] + [{"title": "", "abstract": "x", "description": text[:rest]}])
    assert response.status_code == 413


def test_n_results_has_a_cap_of_its_own(client):
    submissions = [{"title": "Flask", "description": "APIs REST em Python"}]
    assert MAX_REVIEW_RESULTS < MAX_RESULTS
    assert client.post(f"/review?n_results={MAX_REVIEW_RESULTS}", json=submissions).status_code == 200
    response = client.post(f"/review?n_results={MAX_REVIEW_RESULTS + 1}", json=submissions)
    assert response.status_code == 400
    assert response.json["message"] == f"n_results: Must be between 1 and {MAX_REVIEW_RESULTS}"
    page = client.get("/revisar").get_data(as_text=True)
    assert f'max="{MAX_REVIEW_RESULTS}"' in page


def test_the_openapi_document_states_the_review_s_limits(client):
    operation = client.get("/openapi.json").json["paths"]["/review"]["post"]
    n_results = next(parameter for parameter in operation["parameters"] if parameter["name"] == "n_results")
    assert n_results["schema"]["anyOf"][0]["maximum"] == MAX_REVIEW_RESULTS
    submissions = operation["requestBody"]["content"]["application/json"]["schema"]["anyOf"][0]
    assert submissions["maxItems"] == MAX_SUBMISSIONS
    assert f"{MAX_REVIEW_TEXT:,} characters" in operation["description"]
    assert f"{MAX_REVIEW_TEXT:,} characters" in operation["responses"]["413"]["description"]
    assert f"more than {MAX_SUBMISSIONS} submissions" in operation["responses"]["400"]["description"]


@pytest.mark.parametrize("body, content_type, message", [
    ([], "application/json", "no submissions"),
    ([{"title": "ok", "description": ""}, "texto solto"], "application/json", "submission 2 is not an object"),
    ([{"title": "a" * 301, "description": ""}], "application/json", "submission 1: title has 301 characters, over 300"),
    ([{"title": "ok", "description": 7}], "application/json", "submission 1: description must be text"),
    ({"title": "ok"}, "application/json", "JSON list of submissions"),
    ([{"title": "ok"}, {"speaker": "Ana"}], "application/json", "submission 2 has no title, abstract or description"),
    ("titulo,resumo\nFlask,API\n", "text/csv", "no 'description' column"),
    ("not json", "application/json", "not valid JSON"),
])
def test_bad_batches_get_a_400_naming_the_problem(client, body, content_type, message):
    data = body if isinstance(body, str) else json.dumps(body)
    response = client.post("/review", data=data.encode(), content_type=content_type)
    assert response.status_code == 400
    assert message in response.json["message"]


def test_n_results_is_checked_as_elsewhere(client):
    response = client.post("/review?n_results=0", json=[{"title": "Flask", "description": ""}])
    assert response.status_code == 400 and "n_results" in response.json["message"]


def test_the_request_log_keeps_no_submission_text(sample_model_path, tmp_path, batch):
    database = tmp_path / "requests.db"
    app = create_app({"MODEL_PATH": str(sample_model_path), "DATABASE_URL": f"sqlite:///{database}"})
    client = app.test_client()
    assert client.post("/review", json=batch).status_code == 200
    assert client.post("/predict", json={"title": "Flask", "description": ""}).status_code == 200  # a query is kept
    request_log = app.extensions["palestras"].request_log
    request_log.close()  # writes what is queued
    deadline = time.monotonic() + 10
    while request_log.counters.snapshot()["written"] < 2:
        assert time.monotonic() < deadline, request_log.counters.snapshot()
        time.sleep(0.05)
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("requests.db*"))
    assert SECRET.encode() not in stored and "Versionando".encode() not in stored
    stats = client.get("/stats").json
    assert stats["requests"]["review"] == 1 and stats["requests"]["predict"] == 1


# -- one reader: the same file through the command line and the API ---------------------------

ROWS_WITH_AN_UNQUOTED_COMMA = ("id,title,description\n"
                               "1,Kubernetes,containers, deploy e observabilidade\n"
                               "2,Flask em produção,Deploy com gunicorn e nginx\n")


def _same_files(sample_talks) -> dict[str, tuple[bytes, str]]:
    rows = "".join(f'{index},"{sample_talks.title[index]}","{sample_talks.description[index]}",Ana\n'
                   for index in range(3))
    pretalx = (Path(__file__).resolve().parent / "fixtures" / "pretalx_submissions.json").read_bytes()
    return {
        "calls.csv": (f"id,title,description,speaker\n{rows}5,,,Bia\n".encode(), "text/csv"),
        "pretalx.json": (pretalx, "application/json"),
        "list.json": (json.dumps([{"title": "Flask", "description": "APIs REST", "sala": 3},
                                  {"code": "K1", "title": "Kotlin", "abstract": "coroutines", "description": None}]
                                 ).encode(), "application/json"),
    }


def test_the_command_line_and_the_api_read_the_same_file_the_same_way(client, sample_talks, sample_model_path,
                                                                      tmp_path, capsys):
    from text_similarity_model.cli import main

    for name, (content, content_type) in _same_files(sample_talks).items():
        path, report = tmp_path / name, tmp_path / f"{name}.report.json"
        path.write_bytes(content)
        assert main(["review", str(path), str(sample_model_path), "-o", str(report)]) == 0, capsys.readouterr()
        from_command = json.loads(report.read_text())
        response = client.post("/review", data=content, content_type=content_type)
        assert response.status_code == 200, (name, response.json)
        assert response.json["submissions"] == from_command["submissions"], name
        assert response.json["summary"] == from_command["summary"], name


def test_a_row_with_an_unquoted_comma_is_skipped_by_the_command_and_refused_by_the_api(client, sample_model_path,
                                                                                       tmp_path, capsys):
    from text_similarity_model.cli import main

    path = tmp_path / "call.csv"
    path.write_text(ROWS_WITH_AN_UNQUOTED_COMMA)
    assert main(["review", str(path), str(sample_model_path), "-o", str(tmp_path / "r.json")]) == 0
    assert "skipped 1 row: unreadable (row 1)" in capsys.readouterr().out
    assert [s["id"] for s in json.loads((tmp_path / "r.json").read_text())["submissions"]] == ["2"]

    response = client.post("/review", data=ROWS_WITH_AN_UNQUOTED_COMMA.encode(), content_type="text/csv")
    assert response.status_code == 400
    assert response.json["message"].startswith("submission 1 has more fields than the CSV's header")
