"""Re-given talks: the labels, the rule, ``same_talk`` in answers, the API and
``evaluate --repeats``, on the sample corpus and the real one."""

import json

import numpy as np
import pandas as pd
import pytest

from text_similarity_model import IncompatibleModelError, Model
from text_similarity_model.quality.evaluation import repeat_detection
from text_similarity_model.quality.repeat_labels import normalized_text, repeat_labels
from text_similarity_model.steps.same_talk import RepeatDetector, _dot

from tests.support.cli import run_cli

# Sample talk 16, given again: its title tweaked, its last sentence rewritten, a word changed.
ORIGINAL = 16
REWORDED = {
    "title": "Do notebook à produção: servindo modelos do scikit-learn com Flask e Docker",
    "description": (
        "Treinar um modelo é apenas metade do trabalho. Vamos serializar um pipeline do scikit-learn com joblib, "
        "expô-lo como uma API REST em Flask, validar as entradas e empacotar tudo em um container. "
        "Ideal para quem faz ciência de dados e quer colocar os seus modelos no ar."
    ),
}
# Another talk on talk 16's subject (and sample talk 192's), in its own words.
SAME_SUBJECT = {
    "title": "Machine learning em produção: uma API Flask para o seu modelo scikit-learn",
    "description": (
        "Do treino ao deploy: como transformar um modelo do scikit-learn em um serviço web com Flask, "
        "com testes, logs e monitoramento das predições, e o que muda quando o tráfego cresce."
    ),
}


# -- the labels ------------------------------------------------------------------


def test_normalized_text_folds_case_accents_and_punctuation():
    assert normalized_text("  Porquê  não animações?") == "porque nao animacoes"
    assert normalized_text("Spring 5.0 - Reactive!") == "spring 5 0 reactive"
    assert normalized_text(" ... ") == ""


def test_labels_link_talks_by_title_or_description_transitively():
    talks = pd.DataFrame({
        "title": ["Go na prática", "GO na Prática!", "Outro título", "Kubernetes", "Sem relação", ""],
        "description": ["A", "B, reescrita", "b reescrita", "C", "D", ""],
        "ano": [2017, 2018, 2018, 2018, 2018, 2018],
        "cidade": ["saopaulo", "saopaulo", "portoalegre", "saopaulo", "saopaulo", "saopaulo"],
    })
    labels = repeat_labels(talks)
    # 0 and 1 share a title, 1 and 2 a description: one talk given three times.
    assert labels.groups == [[0, 1, 2]]
    assert labels.pairs == {(0, 1), (0, 2), (1, 2)}
    assert (labels.shared_titles, labels.shared_descriptions, labels.n_talks) == (1, 1, 3)
    assert (labels.near_identical_titles, labels.near_identical_descriptions) == (0, 0)
    assert labels.same_edition_pairs == 0
    # Empty fields link nothing (talk 5 has neither title nor description).
    assert repeat_labels(talks.assign(title="", description="")).pairs == set()


def test_labels_link_near_identical_titles_but_not_one_word_in_three_changed():
    talks = pd.DataFrame({
        "title": ["Kubernetes em produção na prática", "Kubernetes em produção na prática, hoje",  # 5 of 6 words
                  "Ruby Koans e a prática Zen", "Java Koans e a prática Zen"],  # 5 of 7
        "description": ["Pods.", "Deploys.", "Katas.", "Exercícios."],
    })
    labels = repeat_labels(talks)
    assert labels.pairs == {(0, 1)}
    assert (labels.shared_titles, labels.near_identical_titles, labels.same_edition_pairs) == (0, 1, None)


def test_the_sample_corpus_has_no_repeat_and_no_flag(trained_model, sample_talks):
    assert repeat_labels(sample_talks).pairs == set()
    assert trained_model.repeats.corpus_pairs() == set()


# -- the rule in answers -----------------------------------------------------------


def test_a_reworded_copy_is_the_same_talk_and_a_talk_on_its_subject_is_not(trained_model):
    predictions = trained_model.predict(REWORDED, 5)["predictions"]
    assert predictions[0]["index"] == ORIGINAL and predictions[0]["same_talk"] is True
    assert [p["same_talk"] for p in predictions[1:]] == [False] * 4

    predictions = trained_model.predict(SAME_SUBJECT, 5)["predictions"]
    assert ORIGINAL in [p["index"] for p in predictions[:3]], "the original is related, as it should"
    assert [p["same_talk"] for p in predictions] == [False] * 5


def test_same_talk_is_in_every_prediction_as_a_bool(trained_model):
    answers = [trained_model.predict(REWORDED, 10), trained_model.predict({"title": "Python", "description": ""}, 3),
               trained_model.related(ORIGINAL, 10), trained_model.predict(REWORDED, 3, filters={"ano": [2019]})]
    for answer in answers:
        assert answer["predictions"]
        assert all(type(p["same_talk"]) is bool for p in answer["predictions"])


def test_a_talk_given_twice_is_marked_in_its_related_talks(sample_talks):
    again = sample_talks.iloc[[ORIGINAL]].assign(ano="2019", cidade="florianopolis", **REWORDED)
    model = Model()
    model.train(pd.concat([sample_talks, again], ignore_index=True))
    given_again = len(sample_talks)
    related = model.related(ORIGINAL, 3)["predictions"]
    assert (related[0]["index"], related[0]["same_talk"]) == (given_again, True)
    assert model.related(given_again, 3)["predictions"][0]["index"] == ORIGINAL
    assert model.repeats.corpus_pairs() == {(ORIGINAL, given_again)}


def test_an_only_title_or_only_description_query_is_judged_on_that_field(trained_model, sample_talks):
    title, description = sample_talks.at[ORIGINAL, "title"], sample_talks.at[ORIGINAL, "description"]
    for query in ({"title": title, "description": ""}, {"title": "", "description": description}):
        first = trained_model.predict(query, 3)["predictions"][0]
        assert (first["index"], first["same_talk"]) == (ORIGINAL, True)


def test_the_answers_path_equals_the_evaluation_s_sparse_products(trained_model, sample_talks):
    """same_talk of related() (plain Python over a few terms) is the rule on
    the cosines of corpus_pairs (sparse products over the whole corpus)."""
    detector = RepeatDetector(min_title_similarity=0.5, min_description_similarity=0.3, min_mean_similarity=0.4).fit(
        trained_model.repeats.titles_, trained_model.repeats.descriptions_)
    flagged = detector.corpus_pairs()
    assert flagged, "thresholds this low flag some sample talks"
    titles = (detector.titles_ @ detector.titles_.T).toarray()
    descriptions = (detector.descriptions_ @ detector.descriptions_.T).toarray()
    for talk in range(len(sample_talks)):
        others = np.array([other for other in range(len(sample_talks)) if other != talk])
        title, description = detector.talk_vectors(talk)
        similarities = [(_dot(title, other_title), _dot(description, other_description))
                        for other_title, other_description in map(detector.talk_vectors, others.tolist())]
        np.testing.assert_allclose(similarities, np.column_stack([titles[talk, others], descriptions[talk, others]]),
                                   rtol=0, atol=1e-6)
        assert detector.same_talks(*detector.talk_vectors(talk), others) == [
            (min(talk, other), max(talk, other)) in flagged for other in others.tolist()]


def test_thresholds_are_validated_when_fitting(trained_model):
    with pytest.raises(ValueError, match="min_title_similarity"):
        RepeatDetector(min_title_similarity=2).fit(trained_model.repeats.titles_, trained_model.repeats.descriptions_)


def test_a_model_file_from_before_same_talk_is_refused_with_the_fix(trained_model, tmp_path):
    import copy

    older = copy.copy(trained_model)
    older.repeats = None
    older.serialize(tmp_path / "older.pkl")
    with pytest.raises(IncompatibleModelError, match=r"older.pkl: was trained before .*retrain it \(make train\)"):
        Model.deserialize(tmp_path / "older.pkl")


# -- the API -------------------------------------------------------------------------


def test_the_api_answers_same_talk_and_documents_it(client):
    predictions = client.post("/predict", json={**REWORDED, "n_results": 3}).get_json()["predictions"]
    assert [(p["index"], p["same_talk"]) for p in predictions][0] == (ORIGINAL, True)
    assert all(p["same_talk"] is False for p in predictions[1:])
    related = client.get(f"/talks/{ORIGINAL}/related?n_results=3").get_json()["predictions"]
    assert [p["same_talk"] for p in related] == [False] * 3
    schema = client.get("/openapi.json").get_json()["components"]["schemas"]["Prediction"]
    assert schema["properties"]["same_talk"]["type"] == "boolean"
    assert "same_talk" in schema["required"] and schema["properties"]["same_talk"]["description"]


# -- the real corpus: the figures docs/quality.md quotes ------------------------------------


@pytest.mark.real_corpus
def test_real_corpus_labels(real_talks):
    labels = repeat_labels(real_talks)
    # 56 titles and 31 descriptions shared across editions (issue #15), the others within one edition.
    assert (labels.shared_titles, labels.shared_descriptions) == (64, 38)
    assert (labels.near_identical_titles, labels.near_identical_descriptions) == (9, 27)
    assert (len(labels.groups), labels.n_talks, len(labels.pairs), labels.same_edition_pairs) == (87, 176, 91, 10)


@pytest.mark.real_corpus
@pytest.mark.slow
def test_real_corpus_same_talk_meets_its_targets(real_talks):
    evaluation = repeat_detection(real_talks)
    overall = evaluation.overall()
    assert overall["precision"] >= 0.95 and overall["recall"] >= 0.90, evaluation.lines()
    # The figures docs/quality.md quotes.
    assert (overall["flagged_pairs"], overall["found_pairs"], overall["labelled_pairs"]) == (88, 86, 91)


@pytest.mark.slow
def test_evaluate_repeats_command(sample_csv):
    result = run_cli("evaluate", sample_csv, "--repeats", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["protocol"] == "re-given talks"
    assert report["labels"]["pairs"] == 0 and report["overall"]["flagged_pairs"] == 0
    assert set(report["thresholds"]) == {"min_title_similarity", "min_description_similarity", "min_mean_similarity"}
    text = run_cli("evaluate", sample_csv, "--repeats")
    assert text.returncode == 0 and "precision" in text.stdout and "rule: same_talk when" in text.stdout
    refused = run_cli("evaluate", sample_csv, "--repeats", "--split-year", "2018")
    assert refused.returncode == 2 and "not allowed with" in refused.stderr
