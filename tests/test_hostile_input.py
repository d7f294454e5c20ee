"""Hostile and broken input: always a clear 4xx or a 200, never a 500."""

import pytest

from api.schemas import MAX_TEXT_LENGTH

QUERY = {"title": "Kubernetes em produção", "description": "containers, deploy e observabilidade"}


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
