"""The suggested track (issue #19): the grouping rule, the track classifier as
a scikit-learn estimator, its C query path, and ``likely_tracks`` in
``Model.predict``'s answers, degenerate corpora included."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from text_similarity_model import Model
from text_similarity_model.steps import track_classifier
from text_similarity_model.steps.track_classifier import TrackClassifier
from text_similarity_model.track_groups import SYNONYMS, spelling_key, track_key

from tests.support.require import skip_or_fail

# -- the grouping rule -------------------------------------------------------------


@pytest.mark.parametrize("typed, slug", [
    ("Python", "trilha-python"),
    ("Segurança", "trilha-seguranca"),
    ("SEGURANÇA", "trilha-seguranca-e-criptografia"),
    ("Gestão de Produtos", "trilha-gestao-de-produto"),
    ("Go", "trilha-golang"),
    (".NET", "trilha-dot-net"),
    ("Node.js", "trilha-nodejs"),
    ("Data Science", "trilha-datascience2"),
    ("Testes", "trilha-testes-sabado"),
    ("DevOps", "trilha-devops-2"),
    ("Arquitetura", "trilha-arquitetura-quinta"),
])
def test_a_track_as_people_write_it_is_the_corpus_slug_s_group(typed, slug):
    assert track_key(typed) == track_key(slug) != ""


@pytest.mark.parametrize("one, other", [
    ("trilha-devops", "trilha-devops-tools"),  # both at Porto Alegre 2018: two tracks
    ("trilha-java", "trilha-javascript"),
    ("trilha-nosql", "trilha-bigdata-e-nosql"),
    ("HTML5", "HTML"),  # only a room's 2 is dropped
])
def test_different_topics_stay_apart(one, other):
    assert track_key(one) != track_key(other)


@pytest.mark.parametrize("slug, name", [("trilha-stadium-quarta", "Stadium"), ("trilha-devops-2", "Devops"),
                                        ("trilha-analise-de-negocios2", "Análise de negócios"),
                                        ("trilha-seguranca", "Segurança"), ("trilha-ios", "iOS")])
def test_a_group_is_named_by_its_slug_without_day_or_room(slug, name):
    from text_similarity_model.names import track_name
    from text_similarity_model.track_groups import without_day_or_room

    assert track_name(without_day_or_room(slug)) == name


def test_no_track_is_the_empty_key():
    assert track_key("") == track_key(None) == track_key(" - ") == ""


@pytest.mark.real_corpus
def test_no_edition_of_the_real_corpus_has_two_names_a_synonym_joins(real_csv):
    """Two tracks of one edition are two topics: a synonym never joins them
    (days and rooms of one track, joined by the rules, share a spelling)."""
    talks = pd.read_csv(real_csv, dtype=str, keep_default_na=False)
    talks["key"] = talks["trilha"].map(track_key)
    talks["spelling"] = talks["trilha"].map(spelling_key)
    names = talks.groupby(["ano", "cidade", "key"])["spelling"].nunique()
    assert names.max() == 1, names[names > 1]
    assert set(SYNONYMS) <= set(talks["spelling"]) | {"net"}  # each found in the corpus, but .NET as people write it
    assert talks["trilha"].nunique() == 120 and talks["key"].nunique() == 76


# -- the classifier as an estimator -------------------------------------------------


def _rows(n_rows: int = 60, n_features: int = 40, n_classes: int = 4, seed: int = 0):
    """Rows whose class shows in a block of features, plus noise; and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.array([f"t{index % n_classes}" for index in range(n_rows)], dtype=object)
    dense = rng.random((n_rows, n_features)) * (rng.random((n_rows, n_features)) < 0.15)
    block = n_features // n_classes
    for row, label in enumerate(labels):
        start = int(label[1:]) * block
        dense[row, start:start + block] += rng.random(block) * (rng.random(block) < 0.5)
    return sp.csr_matrix(dense), labels


def test_fit_learns_a_centroid_per_label_and_predicts_probabilities_that_sum_to_one():
    X, y = _rows()
    classifier = TrackClassifier().fit(X, y)
    assert classifier.classes_.tolist() == ["t0", "t1", "t2", "t3"]
    assert classifier.class_counts_.tolist() == [15, 15, 15, 15]
    assert classifier.centroids_.shape == (4, 40) and classifier.n_features_in_ == 40
    assert 0.1 <= classifier.temperature_ <= 1000
    probabilities = classifier.predict_proba(X[:7])
    assert probabilities.shape == (7, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert classifier.predict(X[:7]).shape == (7,)
    assert classifier.score(X, y) > 0.9  # the blocks tell the classes apart
    assert clone(classifier).get_params() == classifier.get_params()


def test_unlabelled_rows_are_left_out_and_a_fixed_temperature_is_kept():
    X, y = _rows()
    y = y.copy()
    y[::2] = ""
    classifier = TrackClassifier(temperature=5).fit(X, y)
    assert classifier.class_counts_.sum() == 30 and classifier.temperature_ == 5


@pytest.mark.parametrize("parameter, value", [("temperature", 0), ("temperature", "warm"),
                                              ("max_calibration_rows", 0), ("random_state", "seed")])
def test_bad_parameters_are_refused_at_fit_naming_them(parameter, value):
    X, y = _rows()
    with pytest.raises(InvalidParameterError, match=f"'{parameter}' parameter of TrackClassifier must be"):
        TrackClassifier(**{parameter: value}).fit(X, y)


@pytest.mark.parametrize("labels", [["t"] * 5, [""] * 5, ["a", "b", "c", "d", "e"], ["x"]],
                         ids=["one label", "no label", "one row per label", "one row"])
def test_degenerate_labels_still_fit_and_answer(labels):
    X = sp.csr_matrix(np.eye(len(labels), 6) + 0.1)
    classifier = TrackClassifier().fit(X, labels)
    n_classes = len(set(labels) - {""})
    assert classifier.predict_proba(X).shape == (len(labels), n_classes)
    assert classifier.predict(X).shape == (len(labels),)
    assert classifier.temperature_ == track_classifier.DEFAULT_TEMPERATURE  # nothing to fit it on
    classes, probabilities = classifier.top(np.array([0, 1], dtype=np.int32), np.array([1.0, 0.5]), 3)
    assert len(classes) == len(probabilities) == min(n_classes, 3)
    if not n_classes:
        assert classifier.predict(X).tolist() == [""] * len(labels)


def test_leave_one_out_cosines_equal_refitting_without_the_row():
    X, y = _rows(n_rows=24, n_classes=3, seed=3)
    y = y.copy()
    y[5] = ""  # unlabelled: not a query
    classifier = TrackClassifier(temperature=10).fit(X, y)
    cosines, own = classifier.leave_one_out_cosines(X, y)
    labelled = np.flatnonzero(y != "")
    assert cosines.shape == (23, 3)
    for position, row in enumerate(labelled):
        refitted = TrackClassifier(temperature=10).fit(X[np.delete(np.arange(24), row)], np.delete(y, row))
        np.testing.assert_allclose(cosines[position], refitted.decision_function(X[row])[0], atol=1e-6)
        assert classifier.classes_[own[position]] == y[row]


def test_the_query_path_gives_predict_proba_s_best_classes():
    X, y = _rows()
    classifier = TrackClassifier().fit(X, y)
    probabilities = classifier.predict_proba(X)
    for row in range(X.shape[0]):
        terms, weights = X[row].indices.astype(np.int32), X[row].data
        classes, top = classifier.top(terms, weights, 3)
        assert classes == np.argsort(-probabilities[row], kind="stable")[:3].tolist()
        np.testing.assert_allclose(top, probabilities[row, classes], rtol=1e-6)
        assert classifier.top_numpy(terms, weights, 3)[0] == classes
    assert classifier.top(np.array([], dtype=np.int32), np.array([]), 3) == ([], [])


@pytest.mark.real_corpus
@pytest.mark.slow
def test_the_c_query_path_equals_numpy_s_on_every_talk_of_the_real_corpus(real_model):
    if track_classifier._top_classes is None:
        skip_or_fail("the C ranking kernel was not built (no C compiler at install?)", "PALESTRAS_REQUIRE_KERNEL")
    classifier = real_model.tracks
    corpus = real_model.pipeline.named_steps["cosine"].corpus_
    for row in range(corpus.shape[0]):
        terms, weights = corpus[row].indices.astype(np.int32), corpus[row].data
        fast, slow = classifier.top(terms, weights, 3), classifier.top_numpy(terms, weights, 3)
        assert fast[0] == slow[0]
        np.testing.assert_allclose(fast[1], slow[1], rtol=1e-9)


def test_the_c_query_path_refuses_a_term_outside_the_vocabulary():
    if track_classifier._top_classes is None:
        skip_or_fail("the C ranking kernel was not built (no C compiler at install?)", "PALESTRAS_REQUIRE_KERNEL")
    X, y = _rows()
    classifier = TrackClassifier().fit(X, y)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        classifier.top(np.array([400], dtype=np.int32), np.array([1.0]), 3)


# -- likely_tracks in the model's answers -----------------------------------------


@pytest.fixture(scope="module")
def real_model(real_csv):
    from text_similarity_model.corpus import read_talks_csv

    model = Model(version="real-tracks-test")
    model.train(read_talks_csv(real_csv)[0])
    return model


PYTHON_QUERY = {"title": "Tipagem gradual em Python", "description": "type hints, mypy e pandas no Python 3"}


def test_predict_gives_the_query_s_three_likely_tracks(trained_model):
    answer = trained_model.predict(PYTHON_QUERY, 2)
    tracks = answer["likely_tracks"]
    assert len(answer["predictions"]) == 2 and len(tracks) == 3
    assert tracks[0]["trilha"] == "trilha-python" and tracks[0]["name"] == "Python"
    assert tracks[0]["trilhas"] == ["trilha-python"] and tracks[0]["talks"] == 16
    probabilities = [track["probability"] for track in tracks]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-9
    assert answer["tracks_note"] is None


def test_tracks_of_several_editions_are_one_suggestion(real_model):
    tracks = real_model.predict({"title": "Gestão de produto na prática",
                                 "description": "roadmap, discovery e métricas de produto com o time"})["likely_tracks"]
    product = next(track for track in tracks if "trilha-gestao-de-produto" in track["trilhas"])
    assert set(product["trilhas"]) == {"trilha-gestao-de-produto", "trilha-gestao-de-produtos",
                                       "trilha-gestao-de-produto-quinta"}
    assert product["name"] == "Gestão de produtos"  # the group's most common slug
    assert product["talks"] == 56


TALKS = {"title": ["Python para dados", "Go concorrente", "Java moderno"],
         "description": ["Pandas e Jupyter", "goroutines e canais", "records e streams"]}


@pytest.mark.parametrize("trilha, note", [
    (["trilha-java"] * 3, "one-track"),
    ([""] * 3, "no-tracks"),
    (None, "no-tracks"),  # no trilha column at all
    (["trilha-python", "trilha-go", "trilha-java"], "single-talk"),
], ids=["one track", "no track", "no trilha column", "single-talk tracks"])
def test_a_corpus_whose_tracks_can_t_be_told_apart_trains_and_says_so(trilha, note):
    talks = pd.DataFrame(TALKS if trilha is None else {**TALKS, "trilha": trilha})
    model = Model()
    model.train(talks)
    answer = model.predict({"title": "Pandas", "description": "dados em Python"})
    assert answer["tracks_note"] == note
    assert answer["predictions"]  # the ranking still answers
    assert [track["trilha"] for track in answer["likely_tracks"]] == (["trilha-python"] if note == "single-talk" else [])


def test_a_corpus_of_one_talk_trains_and_suggests_nothing():
    model = Model()
    model.train(pd.DataFrame({"title": ["Python para dados"], "description": ["Pandas"], "trilha": ["trilha-python"]}))
    answer = model.predict({"title": "Pandas", "description": ""})
    assert answer["likely_tracks"] == [] and answer["tracks_note"] == "one-track"


def test_a_query_without_a_known_word_has_no_likely_track(trained_model):
    answer = trained_model.predict({"title": "Xyzzy plugh", "description": ""})
    assert answer["likely_tracks"] == [] and answer["tracks_note"] == "no-known-words"


def test_a_model_file_from_before_track_suggestions_still_serves(trained_model, tmp_path):
    import copy

    old = copy.copy(trained_model)
    old.__dict__ = {name: value for name, value in trained_model.__dict__.items()
                    if name not in ("tracks", "track_suggester")}
    old.serialize(tmp_path / "old.pkl")
    restored = Model.deserialize(tmp_path / "old.pkl")
    answer = restored.predict(PYTHON_QUERY)
    assert answer["likely_tracks"] == [] and answer["tracks_note"] == "untrained"
    assert answer["predictions"] == trained_model.predict(PYTHON_QUERY)["predictions"]


def test_the_classifier_travels_in_the_model_file(trained_model, sample_model_path):
    restored = Model.deserialize(sample_model_path)
    assert restored.predict(PYTHON_QUERY)["likely_tracks"] == trained_model.predict(PYTHON_QUERY)["likely_tracks"]


# -- over HTTP ---------------------------------------------------------------------


def test_post_predict_answers_the_model_s_likely_tracks(client, trained_model):
    for body in ({"json": PYTHON_QUERY}, {"data": PYTHON_QUERY}):  # JSON and a form alike
        answer = client.post("/predict", **body).get_json()
        assert answer["likely_tracks"] == trained_model.predict(PYTHON_QUERY)["likely_tracks"]
        assert answer["likely_tracks"][0]["name"] == "Python" and answer["tracks_note"] is None
    related = client.get("/talks/0/related").get_json()
    assert "likely_tracks" not in related  # a corpus talk's track is known


def test_the_openapi_document_describes_likely_tracks_and_the_review_s_check(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert set(schemas["LikelyTrack"]["required"]) == {"trilha", "name", "trilhas", "talks", "probability"}
    assert schemas["Predictions"]["properties"]["likely_tracks"]["items"] == {"$ref": "#/components/schemas/LikelyTrack"}
    assert {"suggested_tracks", "tracks_note", "track_check"} <= set(schemas["ReviewedSubmission"]["required"])
    assert {"tracks_differ", "tracks_unknown", "tracks_not_comparable"} <= set(schemas["ReviewSummary"]["required"])


def test_post_review_flags_a_submission_in_another_track(client):
    body = [{"id": "py", "title": "Tipagem gradual em Python", "description": "type hints e mypy", "track": "Mobile"},
            {"id": "ok", "title": "Tipagem gradual em Python", "description": "type hints e mypy", "track": "python"}]
    answer = client.post("/review", json=body).get_json()
    checks = {item["id"]: item["track_check"] for item in answer["submissions"]}
    assert checks["py"]["status"] == "differs" and checks["py"]["message"] == "submetida em Mobile; parece Python"
    assert checks["ok"]["status"] == "matches"
    assert answer["summary"]["tracks_differ"] == 1


# -- evaluate --tracks -------------------------------------------------------------


def _evaluate(capsys, *arguments) -> tuple[int, list[str], list[str]]:
    from text_similarity_model.cli import main

    code = main(["evaluate", *map(str, arguments)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_leave_one_out_ranks_equal_a_classifier_refitted_without_each_talk(sample_talks):
    """The held-out talk's label never reaches the classifier that suggests its track."""
    from text_similarity_model.quality import track_evaluation
    from text_similarity_model.steps.pipeline import build_pipeline

    talks = sample_talks.iloc[::5].reset_index(drop=True)  # 41 talks, some tracks with one talk
    evaluation = track_evaluation.leave_one_out(talks)
    # The talks' vectors as queries (transform; fit_transform's rows are BM25-weighted).
    vectors = build_pipeline()[:-1].fit(talks[["title", "description"]]).transform(talks[["title", "description"]])
    groups = talks["trilha"].map(track_key).to_numpy()
    for row in range(len(talks)):
        others = np.delete(np.arange(len(talks)), row)
        refitted = TrackClassifier().fit(vectors[others], groups[others])
        if groups[row] not in refitted.classes_:
            assert not evaluation.answerable[row]
            continue
        cosines = refitted.decision_function(vectors[row])[0]
        own = refitted.classes_.tolist().index(groups[row])
        expected = int((cosines > cosines[own]).sum() + (cosines[:own] == cosines[own]).sum())
        assert evaluation.ranks[row] == (expected if cosines[own] > 0 else -1)
    assert 0 < evaluation.answerable.sum() < len(talks)


def test_evaluate_tracks_reports_top_1_and_top_3_on_the_sample_corpus(capsys, sample_csv):
    code, out, err = _evaluate(capsys, "--tracks", sample_csv, "--worst", "2")
    assert code == 0, err
    assert out[0].startswith("suggested tracks, leave-one-out over 204 talks")
    row = next(line for line in out if line.startswith("| track classifier |"))
    top1, top3 = (float(cell) for cell in row.split("|")[2:4])
    baseline = next(line for line in out if line.startswith("| most frequent groups |"))
    assert 0 < top1 <= top3 <= 1 and top3 > float(baseline.split("|")[3])
    assert "per track group, worst top-3 first (2 of 18):" in out

    code, out, err = _evaluate(capsys, sample_csv, "--tracks", "--split-year", "2019", "--json")
    report = json.loads("\n".join(out))
    assert code == 0 and report["protocol"] == "split-year 2019" and report["n_corpus"] == 149
    assert report["overall"]["n_queries"] == 55 and 0 < report["overall"]["top3"] <= 1


def test_evaluate_tracks_bad_input_is_one_line_exit_2(capsys, sample_csv, tmp_path):
    untracked = tmp_path / "untracked.csv"
    untracked.write_text("title,description,trilha\nPython,pandas,\nGo,goroutines,\n")
    for arguments, message in [(["--tracks", untracked], "at least 2 talks with a 'trilha'"),
                               (["--tracks", sample_csv, "--repeats"], "--tracks and --repeats"),
                               (["--tracks", "3"], "evaluate needs the talks CSV"),
                               (["--tracks", sample_csv, "--split-year", "2016"], "talks before 2016")]:
        code, out, err = _evaluate(capsys, *arguments)
        assert code == 2 and len(err) == 1 and message in err[0], (arguments, err)
