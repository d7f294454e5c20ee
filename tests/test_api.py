"""The API through Flask's test client: every endpoint, every error."""

import json

import pytest

from text_similarity_model import Model

from tests.support.queries import QUERY

PREDICTION_FIELDS = {"title", "description", "trilha", "ano", "cidade", "trilha_url", "score", "index", "terms",
                     "same_talk"}


def test_predict_with_a_json_body(client, trained_model):
    response = client.post("/predict", json={**QUERY, "n_results": 5})
    assert response.status_code == 200
    body = response.get_json()
    assert body == json.loads(json.dumps(trained_model.predict(QUERY, 5)))
    assert len(body["predictions"]) == 5
    assert all(set(p) == PREDICTION_FIELDS for p in body["predictions"])


def test_predict_with_a_form_body_as_the_original_client(client):
    response = client.post("/predict", data={**QUERY, "n_results": 10})
    assert response.status_code == 200
    scores = [p["score"] for p in response.get_json()["predictions"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)


def test_predict_defaults_to_three_results_and_accepts_numeric_strings(client):
    assert len(client.post("/predict", json=QUERY).get_json()["predictions"]) == 3
    assert len(client.post("/predict", json={**QUERY, "n_results": "7"}).get_json()["predictions"]) == 7


def test_one_of_title_or_description_may_be_empty(client):
    assert client.post("/predict", json={"title": "Kubernetes em produção", "description": ""}).status_code == 200
    assert client.post("/predict", data={"title": "", "description": "testes automatizados"}).status_code == 200


@pytest.mark.parametrize(
    "body, field, allowed",
    [
        ({"description": "x"}, "title", "required"),
        ({"title": "x"}, "description", "required"),
        ({"title": "", "description": ""}, "title", "give at least one"),
        ({"title": 42, "description": "x"}, "title", "string"),
        ({"title": None, "description": "x"}, "title", "null"),
        ({**QUERY, "n_results": 0}, "n_results", "between 1 and 50"),
        ({**QUERY, "n_results": 51}, "n_results", "between 1 and 50"),
        ({**QUERY, "n_results": -1}, "n_results", "between 1 and 50"),
        ({**QUERY, "n_results": "abc"}, "n_results", "whole number"),
        ({**QUERY, "n_results": 2.5}, "n_results", "whole number"),
        ({**QUERY, "n_results": True}, "n_results", "whole number"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(client, body, field, allowed):
    response = client.post("/predict", json=body)
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert message.startswith(field) and allowed in message


def test_body_that_is_not_an_object_or_not_json(client):
    for data in ("[1, 2]", "42", "null", '"texto"'):
        response = client.post("/predict", data=data, content_type="application/json")
        assert response.status_code == 400 and "JSON object" in response.get_json()["message"]
    response = client.post("/predict", data="{not json", content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["message"]
    response = client.post("/predict", data=b'{"title": "\xff"}', content_type="application/json")
    assert response.status_code == 400 and "UTF-8" in response.get_json()["message"]


def test_unsupported_body_is_415(client):
    for options in ({"data": "title=x", "content_type": "text/plain"}, {}):
        response = client.post("/predict", **options)
        assert response.status_code == 415
        assert "application/json" in response.get_json()["message"]


def test_body_over_64_kb_is_413(client):
    for options in ({"json": {"title": "a" * 70_000, "description": ""}},
                    {"data": {"title": "a" * 70_000, "description": ""}}):
        response = client.post("/predict", **options)
        assert response.status_code == 413
        assert "64 KB" in response.get_json()["message"]


def test_unknown_routes_and_wrong_methods_are_json(client):
    response = client.get("/nada")
    assert response.status_code == 404 and response.is_json and "/nada" in response.get_json()["message"]
    response = client.get("/predict")
    assert response.status_code == 405 and "use POST" in response.get_json()["message"]
    assert client.delete("/version").status_code == 405


def test_talk_and_related_talks(client, trained_model):
    talk = client.get("/talks/5").get_json()
    assert talk == trained_model.talk(5)
    related = client.get("/talks/5/related?n_results=4").get_json()
    assert len(related["predictions"]) == 4
    assert 5 not in [p["index"] for p in related["predictions"]]
    assert len(client.get("/talks/5/related").get_json()["predictions"]) == 3


def test_unknown_talk_is_404_and_bad_n_results_400(client, trained_model):
    for path in (f"/talks/{len(trained_model)}", f"/talks/{len(trained_model)}/related", "/talks/99999999999999"):
        response = client.get(path)
        assert response.status_code == 404 and "no talk" in response.get_json()["message"]
    assert client.get("/talks/-1").status_code == 404
    response = client.get("/talks/1/related?n_results=0")
    assert response.status_code == 400 and "n_results" in response.get_json()["message"]


def test_version_reports_the_artifact(client, sample_model_path):
    body = client.get("/version").get_json()
    metadata = Model.deserialize(sample_model_path).metadata
    assert body["model_version"] == metadata["version"] == "sample-test"
    for key in ("trained_at", "n_documents", "data_sha256", "libraries"):
        assert body[key] == metadata[key]


def test_health(client):
    from text_similarity_model.steps.ranking import ranking_backend

    health = client.get("/health").get_json()
    assert health["status"] == "ok"
    assert health["ranking"] == ranking_backend() in ("compiled", "numpy")


def test_stats_counts_requests_and_latency(client, app):
    for _ in range(3):
        client.post("/predict", json=QUERY)
    client.get("/talks/2/related")
    app.extensions["palestras"].request_log.close()  # flush the queue
    stats = client.get("/stats").get_json()
    assert stats["requests"] == {"total": 4, "predict": 3, "related": 1}
    assert stats["latency_ms"]["p50"] > 0
    assert stats["request_log"]["written"] == 4


def test_security_headers(client):
    response = client.post("/predict", json=QUERY)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/nada").headers["X-Content-Type-Options"] == "nosniff"


def test_missing_model_fails_app_creation_with_the_fix(tmp_path):
    from api import create_app
    from text_similarity_model import ModelFileError

    with pytest.raises(ModelFileError, match="make train"):
        create_app({"MODEL_PATH": str(tmp_path / "none.pkl")})


def test_a_model_the_installed_code_cannot_run_fails_app_creation_with_the_fix(trained_model, tmp_path):
    """E.g. a file from an older palestras whose steps lack today's methods:
    refused at start-up with the fix, not a traceback on every request."""
    import copy

    from sklearn.feature_extraction.text import TfidfVectorizer

    from api import create_app
    from text_similarity_model import IncompatibleModelError

    older = copy.deepcopy(trained_model)
    fitted = older.pipeline.steps[1][1]
    plain = TfidfVectorizer(**{name: value for name, value in fitted.get_params().items()
                               if name in TfidfVectorizer().get_params()})  # not BM25's k1, b...
    plain.__dict__.update({key: value for key, value in fitted.__dict__.items() if key.endswith("_")})
    older.pipeline.steps[1] = ("tfidf", plain)  # no transform_one(): as models written before it
    path = tmp_path / "older.pkl"
    older.serialize(path)
    with pytest.raises(IncompatibleModelError, match=r"older.pkl.*retrain it \(make train\)"):
        create_app({"MODEL_PATH": str(path), "DATABASE_URL": f"sqlite:///{tmp_path / 'requests.db'}"})
