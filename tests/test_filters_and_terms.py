"""Filters (ano, cidade, trilha) and the shared ``terms`` of each prediction:
in the model, over the API, and as the page's filter choices."""

import json
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import normalize

from api.schemas import MAX_RESULTS
from text_similarity_model import Model
from text_similarity_model.model import N_TERMS

from tests.support.queries import QUERY



def reference_ranking(model, scores, n_results, keep=lambda index: True):
    """Score every talk, keep the matching ones with a score > 0, sort: the slow, obvious way."""
    candidates = [i for i in range(len(scores)) if scores[i] > 0 and keep(i)]
    return sorted(candidates, key=lambda i: (-scores[i], i))[:n_results]


def query_scores(model, query):
    return model.pipeline.predict([(query["title"], query["description"])])[0]


def tfidf_share(model) -> float:
    """The part of a score the TF-IDF cosine makes (the rest is the latent similarity)."""
    return model.pipeline[-1].lexical_share()


def reference_terms(model, query_vector, index):
    """Each shared term's share of the score, from scipy's elementwise product."""
    contributions = normalize(query_vector).multiply(model.pipeline[-1].corpus_[index]).tocsr()
    names = model.pipeline.named_steps["tfidf"].get_feature_names_out()
    pairs = sorted(zip(contributions.indices, contributions.data), key=lambda pair: (-pair[1], pair[0]))
    return [(names[term], weight * tfidf_share(model)) for term, weight in pairs]


def tfidf_cosine(model, query_vector, index) -> float:
    return float((normalize(query_vector) @ model.pipeline[-1].corpus_[index].T).toarray()[0, 0])


@pytest.fixture(scope="module")
def tfidf_only_model(sample_talks):
    """The sample model without the latent similarity: a score is then only shared terms."""
    model = Model(version="tfidf-only", cosine__latent_components=0)
    model.train(sample_talks)
    return model


# -- the model: filters ----------------------------------------------------

@pytest.mark.parametrize("filters", [
    {"ano": [2018]},
    {"cidade": ["saopaulo", "portoalegre"]},
    {"trilha": ["trilha-python"]},
    {"ano": [2017, 2018], "cidade": ["belohorizonte"]},
    {"ano": 2019, "trilha": "trilha-devops"},  # one value, not a list
])
def test_filters_apply_before_the_top_n_is_taken(trained_model, filters):
    columns = {column: trained_model._columns[column] for column in filters}
    wanted = {column: values if isinstance(values, list) else [values] for column, values in filters.items()}

    def keep(index):
        return all(columns[column][index] in values for column, values in wanted.items())

    scores = query_scores(trained_model, QUERY)
    predictions = trained_model.predict(QUERY, 5, filters=filters)["predictions"]
    assert [p["index"] for p in predictions] == reference_ranking(trained_model, scores, 5, keep)
    np.testing.assert_allclose([p["score"] for p in predictions], [scores[p["index"]] for p in predictions])
    assert all(p[column] in values for p in predictions for column, values in wanted.items())


def test_a_filtered_query_still_returns_n_results(trained_model):
    """Not a top-n filtered after the fact: the n best among the matching talks."""
    top = trained_model.predict(QUERY, 5)["predictions"]
    city = next(city for city in trained_model.facets()["cidade"] if sum(p["cidade"] == city for p in top) <= 1)
    filtered = trained_model.predict(QUERY, 5, filters={"cidade": [city]})["predictions"]
    assert len(filtered) == 5 and all(p["cidade"] == city for p in filtered)


def test_empty_filters_filter_nothing_and_unknown_values_match_nothing(trained_model):
    unfiltered = trained_model.predict(QUERY, 4)
    for filters in (None, {}, {"ano": []}, {"cidade": None, "trilha": []}):
        assert trained_model.predict(QUERY, 4, filters=filters) == unfiltered
    for filters in ({"cidade": ["recife"]}, {"ano": [1999]}, {"ano": ["2018"]}, {"trilha": ["trilha-python"], "ano": [10**30]}):
        assert trained_model.predict(QUERY, 4, filters=filters)["predictions"] == []
    with pytest.raises(ValueError, match="can't filter by \\['palestrante'\\]"):
        trained_model.predict(QUERY, 4, filters={"palestrante": ["x"]})


def test_related_takes_filters_and_still_excludes_the_talk(trained_model):
    talk = trained_model.talk(0)
    filters = {"ano": [talk["ano"]]}
    related = trained_model.related(0, 5, filters=filters)["predictions"]
    cosine = trained_model.pipeline[-1]
    scores = cosine.predict(cosine.corpus_[0])[0]
    years = trained_model._columns["ano"]
    expected = reference_ranking(trained_model, scores, 5, lambda i: i != 0 and years[i] == talk["ano"])
    assert [p["index"] for p in related] == expected and len(expected) == 5
    assert trained_model.related(0, 5, filters={}) == trained_model.related(0, 5)


def test_facets_are_the_corpus_values_sorted_without_unknowns():
    talks = pd.DataFrame({
        "title": ["Python", "Go", "Rust", "Java"],
        "description": ["dados", "concorrência", "memória", "jvm"],
        "ano": ["2018", "", "2016", "2018"],
        "trilha": ["trilha-python", "trilha-go", "", "trilha-java"],
    })
    model = Model(version="facets", tfidf__min_df=1)
    model.train(talks)
    assert model.facets() == {"ano": [2016, 2018], "cidade": [], "trilha": ["trilha-go", "trilha-java", "trilha-python"]}
    assert all(type(year) is int for year in model.facets()["ano"])
    assert model.predict({"title": "Python", "description": ""}, 3, filters={"cidade": ["saopaulo"]})["predictions"] == []


def test_caches_stay_out_of_the_model_file(trained_model):
    trained_model.facets()
    trained_model.predict(QUERY, 3)
    caches = {"_facets", "_term_names", "_steps"}
    assert caches <= set(trained_model.__dict__)
    step_caches = {"lemmas": {"_nlp", "_lemmatize_text"}, "tfidf": {"_query_state"},
                   "cosine": {"_ranking_index", "_rank_one"}}
    for name, step in trained_model.pipeline.named_steps.items():
        assert step_caches[name] <= set(step.__dict__)
    restored = pickle.loads(pickle.dumps(trained_model))
    assert not caches & set(restored.__dict__)
    for name, step in restored.pipeline.named_steps.items():
        assert not step_caches[name] & set(step.__dict__)
    assert restored.predict(QUERY, 3) == trained_model.predict(QUERY, 3)
    assert restored.facets() == trained_model.facets()


# -- the model: terms ------------------------------------------------------

@pytest.mark.parametrize("model_name", ["trained_model", "tfidf_only_model"])
def test_terms_are_the_shared_terms_that_weigh_most(request, model_name):
    model = request.getfixturevalue(model_name)
    vector = model.pipeline[:-1].transform([(QUERY["title"], QUERY["description"])])
    for prediction in model.predict(QUERY, 10)["predictions"]:
        expected = reference_terms(model, vector, prediction["index"])
        terms = prediction["terms"]
        assert [t["term"] for t in terms] == [term for term, _ in expected[:N_TERMS]] and terms
        np.testing.assert_allclose([t["weight"] for t in terms], [w for _, w in expected[:N_TERMS]])
        assert all(isinstance(t["term"], str) and type(t["weight"]) is float for t in terms)
        # All shared terms together are the TF-IDF part of the score; the latent part is the rest.
        lexical = sum(weight for _, weight in expected)
        assert lexical == pytest.approx(tfidf_share(model) * tfidf_cosine(model, vector, prediction["index"]))
        assert lexical <= prediction["score"] + 1e-9


def test_without_latent_similarity_the_weights_add_up_to_the_score(tfidf_only_model):
    query = {"title": "Flask", "description": "scikit-learn"}
    predictions = tfidf_only_model.predict(query, 5)["predictions"]
    assert predictions
    for prediction in predictions:
        # The query's terms: the default tokenization splits "scikit-learn" into its words.
        assert {t["term"] for t in prediction["terms"]} <= {"flask", "scikit", "learn"}
        assert sum(t["weight"] for t in prediction["terms"]) == pytest.approx(prediction["score"])


def test_related_talks_have_terms_shared_with_the_talk(trained_model):
    talk = trained_model.talk(3)
    # The talk's vector as a query (its text's), not its corpus row (BM25-weighted).
    vector = trained_model.pipeline[:-1].transform([(talk["title"], talk["description"])])
    for prediction in trained_model.related(3, 5)["predictions"]:
        expected = reference_terms(trained_model, vector, prediction["index"])
        assert [t["term"] for t in prediction["terms"]] == [term for term, _ in expected[:N_TERMS]]
        assert sum(weight for _, weight in expected) <= prediction["score"] + 1e-9


# -- the API ---------------------------------------------------------------

def test_predict_filters_as_json_lists_single_values_and_numeric_strings(client, trained_model):
    filters = {"ano": [2017, 2018], "cidade": ["saopaulo"]}
    expected = json.loads(json.dumps(trained_model.predict(QUERY, 5, filters=filters)))
    for body in ({"ano": [2017, 2018], "cidade": ["saopaulo"]},
                 {"ano": ["2017", "2018"], "cidade": "saopaulo"},
                 {"ano": [2017, 2018], "cidade": "saopaulo", "trilha": []}):
        response = client.post("/predict", json={**QUERY, "n_results": 5, **body})
        assert response.status_code == 200, response.get_json()
        assert response.get_json() == expected


def test_predict_filters_as_form_fields_once_or_repeated(client, trained_model):
    expected = json.loads(json.dumps(trained_model.predict(QUERY, 5, filters={"ano": [2017, 2018], "trilha": ["trilha-python"]})))
    response = client.post("/predict", data={**QUERY, "n_results": "5", "ano": ["2017", "2018"],
                                             "trilha": "trilha-python", "cidade": ""})
    assert response.status_code == 200
    assert response.get_json() == expected


def test_a_filter_value_no_talk_has_is_an_empty_answer(client):
    for body in ({"cidade": "recife"}, {"ano": 1999}, {"trilha": ["trilha-cobol"]}):
        response = client.post("/predict", json={**QUERY, **body})
        assert response.status_code == 200 and response.get_json()["predictions"] == []


@pytest.mark.parametrize("body, field", [
    ({"ano": "dois mil"}, "ano"),
    ({"ano": [2018, "x"]}, "ano"),
    ({"ano": -1}, "ano"),
    ({"ano": True}, "ano"),
    ({"ano": None}, "ano"),
    ({"cidade": 3}, "cidade"),
    ({"trilha": {"a": 1}}, "trilha"),
])
def test_invalid_filters_are_400_naming_the_field(client, body, field):
    response = client.post("/predict", json={**QUERY, **body})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith(f"{field}: ")


def test_predictions_carry_their_terms_over_the_api(client):
    predictions = client.post("/predict", json={**QUERY, "n_results": 3}).get_json()["predictions"]
    assert predictions and all(p["terms"] for p in predictions)
    for prediction in predictions:
        assert all(set(term) == {"term", "weight"} for term in prediction["terms"])
        weights = [term["weight"] for term in prediction["terms"]]
        assert weights == sorted(weights, reverse=True) and sum(weights) <= prediction["score"] + 1e-9


def test_related_filters_in_the_query_string(client, trained_model):
    response = client.get("/talks/0/related?n_results=4&ano=2017&ano=2018&cidade=saopaulo")
    assert response.status_code == 200
    expected = trained_model.related(0, 4, filters={"ano": [2017, 2018], "cidade": ["saopaulo"]})
    assert response.get_json() == json.loads(json.dumps(expected))
    assert client.get("/talks/0/related?ano=x").status_code == 400


def test_facets_endpoint(client, trained_model):
    response = client.get("/facets")
    assert response.status_code == 200
    assert response.get_json() == trained_model.facets()
    assert response.get_json()["ano"] == [2016, 2017, 2018, 2019]


def test_the_openapi_document_describes_filters_and_facets(client):
    document = client.get("/openapi.json").get_json()
    properties = document["components"]["schemas"]["PredictRequest"]["properties"]
    for name in ("ano", "cidade", "trilha"):
        one, many = properties[name]["anyOf"]
        assert many["type"] == "array" and many["items"] == one
    parameters = {p["name"] for p in document["paths"]["/talks/{index}/related"]["get"]["parameters"]}
    assert {"ano", "cidade", "trilha"} <= parameters
    assert "/facets" in document["paths"]


# -- the page's shell ------------------------------------------------------

def test_the_page_offers_the_corpus_values_as_filters(client, trained_model):
    response = client.get("/")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    facets = trained_model.facets()
    for year in facets["ano"]:
        assert f'name="ano" value="{year}"' in html
    for city in facets["cidade"]:
        assert f'name="cidade" value="{city}"' in html
    assert html.count("<option value=") == len(facets["trilha"]) + 1  # and "Todas as trilhas"
    assert "São Paulo" in html and ">Machine learning</option>" in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "http" not in html.replace("http-equiv", "")  # nothing from outside
    for asset, mimetype in (("/static/palestras.js", "text/javascript"), ("/static/palestras.css", "text/css")):
        served = client.get(asset)
        assert served.status_code == 200 and served.mimetype == mimetype
        served.close()


def test_the_page_asks_for_as_many_results_as_the_api_allows(client):
    html = client.get("/").get_data(as_text=True)
    field = re.search(r'<input id="n_results"[^>]*>', html).group(0)
    assert 'min="1"' in field and f'max="{MAX_RESULTS}"' in field
