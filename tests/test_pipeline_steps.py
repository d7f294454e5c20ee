"""The scikit-learn steps: LemmatizationTransformer and CosineSimilaritiesEstimator."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from text_similarity_model import CosineSimilaritiesEstimator, LemmatizationTransformer, Model, build_pipeline
from text_similarity_model.steps.lemmatizer import SpacyModelNotFound
from text_similarity_model.steps.pipeline import fit_with_talk_vectors
from text_similarity_model.steps.vectorizer import QueryTfidfVectorizer


@pytest.fixture(scope="module")
def lemmatizer():
    return LemmatizationTransformer().fit(["eu jogo", "eu gosto de jogar"])


def test_lemmatizes_like_the_original_system(lemmatizer):
    assert lemmatizer.transform(["eu jogo"]) == [["jogar"]]
    assert lemmatizer.transform(["eu gosto de jogar"]) == [["gostar", "jogar"]]


def test_lowercases_and_drops_stop_words_punctuation_numbers_and_spaces():
    text = "Em 2019, NÓS   criamos   Serviços!\n\t E modelos... 42"
    lemmas = LemmatizationTransformer().fit_transform([text])[0]
    assert lemmas == ["criar", "serviço", "modelo"]


@pytest.mark.slow
def test_lemmas_equal_spacys_own_lookup_lemmatizer(sample_talks):
    """Our vocabulary-restricted table gives spaCy's lookup lemmatizer's lemmas."""
    import spacy

    nlp = spacy.blank("pt")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    texts = sample_talks["description"].tolist()[:60]
    expected = [
        [t.lemma_ for t in nlp(text.lower()) if not (t.is_stop or t.is_punct or t.like_num or t.is_space)]
        for text in texts
    ]
    fitted = LemmatizationTransformer().fit(sample_talks["description"].tolist())
    assert fitted.transform(texts) == expected


def test_restricted_lookup_keeps_results_for_unseen_forms():
    """Forms never seen in the corpus still map to lemmas the corpus has."""
    fitted = LemmatizationTransformer().fit(["ele joga futebol"])
    assert fitted.transform(["nós jogávamos futebol"]) == [["jogar", "futebol"]]
    assert len(fitted.lemma_lookup_) < 10_000  # not the 825k-entry table


def test_strip_accents_and_title_weight():
    lemmatizer = LemmatizationTransformer(strip_accents=True, title_weight=2)
    lemmas = lemmatizer.fit_transform([("Máquinas", "aprendizagem")])[0]
    assert lemmas == ["maquina", "maquina", "aprendizagem"]


def test_accepts_title_description_pairs_and_dataframes(sample_talks):
    frame = sample_talks[["title", "description"]].head(3)
    lemmatizer = LemmatizationTransformer().fit(frame)
    pairs = list(zip(frame["title"], frame["description"]))
    assert lemmatizer.transform(frame) == lemmatizer.transform(pairs)


def test_unknown_spacy_pipeline_names_it_and_the_fix():
    with pytest.raises(SpacyModelNotFound, match="pt_nao_existe.*not installed.*blank:pt"):
        LemmatizationTransformer(spacy_model="pt_nao_existe").fit(["texto"])


def test_is_a_scikit_learn_citizen():
    lemmatizer = LemmatizationTransformer(strip_accents=True)
    with pytest.raises(NotFittedError):
        lemmatizer.transform(["texto"])
    assert clone(lemmatizer).get_params() == lemmatizer.get_params()
    lemmatizer.set_params(title_weight=3)
    assert lemmatizer.title_weight == 3
    lemmatizer.fit(["texto qualquer"])
    check_is_fitted(lemmatizer)
    assert not hasattr(clone(lemmatizer), "lemma_lookup_")


def test_pickles_without_the_spacy_object():
    lemmatizer = LemmatizationTransformer().fit(["eu jogo"])
    lemmatizer.transform(["eu jogo"])  # builds the spaCy object
    restored = pickle.loads(pickle.dumps(lemmatizer))
    assert "_nlp" in lemmatizer.__dict__ and "_nlp" not in restored.__dict__
    assert restored.transform(["eu jogo"]) == [["jogar"]]


@pytest.fixture(scope="module")
def saved_spacy_pipeline(tmp_path_factory):
    """A full spaCy pipeline on disk, built offline: blank Portuguese with
    spaCy's lookup lemmatizer, its tables from spacy-lookups-data."""
    import spacy

    nlp = spacy.blank("pt")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    path = tmp_path_factory.mktemp("spacy") / "pt_lookup_pipeline"
    nlp.to_disk(path)
    return path


@pytest.mark.slow
def test_a_saved_spacy_pipeline_lemmatizes_trains_and_reloads(saved_spacy_pipeline, sample_talks, trained_model,
                                                               tmp_path):
    """``spacy_model`` naming a pipeline (here by its folder) lemmatizes with
    that pipeline's own lemmatizer. This one is spaCy's lookup lemmatizer,
    whose lemmas the blank default reproduces: the same model, the same answers."""
    lemmatizer = LemmatizationTransformer(spacy_model=str(saved_spacy_pipeline))
    check_is_fitted(lemmatizer)  # it learns nothing from the corpus
    assert lemmatizer.transform(["Nós jogávamos futebol com serviços"]) == [["jogar", "futebol", "serviço"]]

    model = Model(version="saved-spacy-pipeline", lemmas__spacy_model=str(saved_spacy_pipeline))
    model.train(sample_talks)
    queries = [{"title": title, "description": description}
               for title, description in zip(sample_talks["title"][:5], sample_talks["description"][5:10])]
    answers = [model.predict(query, 5) for query in queries]
    for query, answer in zip(queries, answers):
        assert answer["predictions"] and answer["predictions"] == trained_model.predict(query, 5)["predictions"]

    path = tmp_path / "model.pkl"
    model.serialize(path)
    restored = Model.deserialize(path)
    assert restored.pipeline.named_steps["lemmas"].spacy_model == str(saved_spacy_pipeline)
    assert [restored.predict(query, 5) for query in queries] == answers


@pytest.mark.parametrize("make, parameter, value", [
    (CosineSimilaritiesEstimator, "latent_weight", 7),
    (CosineSimilaritiesEstimator, "latent_weight", -0.5),
    (CosineSimilaritiesEstimator, "latent_candidates", -5),
    (CosineSimilaritiesEstimator, "latent_candidates", 0),
    (CosineSimilaritiesEstimator, "latent_components", -1),
    (CosineSimilaritiesEstimator, "latent_components", 2.5),
    (CosineSimilaritiesEstimator, "random_state", "seed"),
    (LemmatizationTransformer, "title_weight", -1),
    (LemmatizationTransformer, "title_weight", 1.5),
    (LemmatizationTransformer, "output", "tokens"),
    (LemmatizationTransformer, "lemmatize", "no"),
    (LemmatizationTransformer, "strip_accents", None),
    (LemmatizationTransformer, "n_process", 0),
    (LemmatizationTransformer, "batch_size", 0),
    (LemmatizationTransformer, "progress", "yes"),
    (LemmatizationTransformer, "spacy_model", None),
    (CosineSimilaritiesEstimator, "corpus_norm", "l1"),
    (QueryTfidfVectorizer, "corpus_weighting", "bm26"),
    (QueryTfidfVectorizer, "k1", -1.0),
    (QueryTfidfVectorizer, "k1", "high"),
    (QueryTfidfVectorizer, "b", 1.5),
    (QueryTfidfVectorizer, "b", -0.1),
    (QueryTfidfVectorizer, "stop_words", "klingon"),
])
def test_bad_parameters_are_refused_at_fit_naming_them(make, parameter, value):
    estimator = make(**{parameter: value})  # __init__ only stores them, as scikit-learn's do
    X = sp.csr_matrix(np.eye(4)) if make is CosineSimilaritiesEstimator else ["eu jogo", "eu gosto de jogar"]
    with pytest.raises(InvalidParameterError, match=f"'{parameter}' parameter of {make.__name__} must be"):
        estimator.fit(X)
    with pytest.raises(ValueError, match=f"'{parameter}' parameter"):  # and through the pipeline
        step = {CosineSimilaritiesEstimator: "cosine", QueryTfidfVectorizer: "tfidf"}.get(make, "lemmas")
        build_pipeline(**{f"{step}__{parameter}": value}).fit(["eu jogo", "eu gosto de jogar"])


def test_bm25_weighs_the_corpus_rows_and_leaves_the_queries_tfidf():
    documents = ["python python python flask", "python django", "java spring boot java", "flask"]
    bm25 = QueryTfidfVectorizer(corpus_weighting="bm25", k1=1.2, b=0.75)
    corpus_rows = bm25.fit_transform(documents)
    queries = bm25.transform(documents)
    tfidf_rows = QueryTfidfVectorizer().fit_transform(documents)
    # Queries: the plain TF-IDF vectors; the corpus: BM25's saturated, length-normalised weights.
    np.testing.assert_allclose(queries.toarray(), tfidf_rows.toarray(), atol=1e-12)
    assert not np.allclose(corpus_rows.toarray(), tfidf_rows.toarray())
    python, flask = bm25.vocabulary_["python"], bm25.vocabulary_["flask"]
    assert bm25.avgdl_ == 11 / 4
    length = 4 / bm25.avgdl_
    expected = bm25.idf_[python] * 3 * 2.2 / (3 + 1.2 * (0.25 + 0.75 * length))
    assert corpus_rows[0, python] == pytest.approx(expected, rel=1e-12)
    # Three times the term is less than three times its weight once: saturation.
    assert corpus_rows[0, python] < 3 * corpus_rows[0, flask] * bm25.idf_[python] / bm25.idf_[flask]
    # fit_corpus gives both matrices from one fit.
    rows, talk_vectors = QueryTfidfVectorizer(corpus_weighting="bm25").fit_corpus(documents)
    np.testing.assert_allclose(rows.toarray(), corpus_rows.toarray(), atol=1e-12)
    np.testing.assert_allclose(talk_vectors.toarray(), queries.toarray(), atol=1e-12)


def test_the_pipeline_hands_bm25_rows_to_the_scoring_step_and_gives_the_talks_query_vectors():
    talks = [("Python e Flask", "APIs com Flask em Python"), ("Java", "Spring Boot"), ("Flask", "micro framework")]
    pipeline = build_pipeline(tfidf__corpus_weighting="bm25", tfidf__k1=5.0, cosine__corpus_norm="max")
    talk_vectors = fit_with_talk_vectors(pipeline, talks)
    np.testing.assert_allclose(talk_vectors.toarray(), pipeline[:-1].transform(talks).toarray(), atol=1e-12)
    corpus = pipeline[:-1].fit_transform(talks)  # what Pipeline.fit hands the scoring step: BM25 rows
    norms = np.linalg.norm(corpus.toarray(), axis=1)
    np.testing.assert_allclose(pipeline[-1].corpus_.toarray(), corpus.toarray() / norms.max(), atol=1e-12)


def test_max_norm_ranks_by_the_dot_product_with_scores_in_0_1():
    corpus = sp.csr_matrix(np.array([[3.0, 0, 0], [1.0, 1.0, 0], [0, 0, 0.5], [2.0, 0, 0]]))
    query = sp.csr_matrix(np.array([[1.0, 1.0, 0]]))
    indices, scores = CosineSimilaritiesEstimator(corpus_norm="max").fit(corpus).top_k(query, 4)[0]
    # The dot products are 3, 2, 0, 2: talk 0 first, though talk 1 has the higher cosine.
    assert indices.tolist() == [0, 1, 3]
    np.testing.assert_allclose(scores, np.array([3.0, 2.0, 2.0]) / np.sqrt(2) / 3.0, atol=1e-12)
    assert CosineSimilaritiesEstimator().fit(corpus).top_k(query, 1)[0][0].tolist() == [1]


def test_steps_pickled_before_bm25_existed_load_as_tfidf_cosine():
    vectorizer = QueryTfidfVectorizer().fit(["python flask", "java"])
    estimator = CosineSimilaritiesEstimator().fit(vectorizer.transform(["python flask", "java"]))
    old_vectorizer = {k: v for k, v in vectorizer.__getstate__().items() if k not in ("corpus_weighting", "k1", "b")}
    old_estimator = {k: v for k, v in estimator.__getstate__().items() if k != "corpus_norm"}
    vectorizer, estimator = QueryTfidfVectorizer.__new__(QueryTfidfVectorizer), CosineSimilaritiesEstimator.__new__(
        CosineSimilaritiesEstimator)
    vectorizer.__setstate__(old_vectorizer)
    estimator.__setstate__(old_estimator)
    assert (vectorizer.get_params()["corpus_weighting"], estimator.get_params()["corpus_norm"]) == ("tfidf", "l2")
    assert estimator.top_k(vectorizer.transform(["flask"]), 1)[0][0].tolist() == [0]


def test_portuguese_stop_words_are_dropped_from_the_lemmas_too():
    vectorizer = QueryTfidfVectorizer(stop_words="portuguese").fit(["ser python", "estar java ser"])
    assert sorted(vectorizer.vocabulary_) == ["java", "python"]
    assert vectorizer.get_params()["stop_words"] == "portuguese"


def test_a_latent_weight_outside_0_1_no_longer_fits(sample_talks):
    with pytest.raises(ValueError, match="'latent_weight' parameter of CosineSimilaritiesEstimator must be a float "
                                         r"in the range \[0\.0, 1\.0\]\. Got 7 instead"):
        Model(cosine__latent_weight=7).train(sample_talks)
    assert CosineSimilaritiesEstimator(latent_weight=1, latent_candidates=1).fit(np.eye(3)).latent_weight == 1


@pytest.fixture
def corpus():
    rng = np.random.default_rng(0)
    dense = rng.random((30, 12)) * (rng.random((30, 12)) > 0.6)
    return sp.csr_matrix(dense)


def test_cosine_predict_equals_sklearn_cosine_similarity(corpus):
    estimator = CosineSimilaritiesEstimator().fit(corpus)
    queries = corpus[:5] * 3.0
    np.testing.assert_allclose(estimator.predict(queries), cosine_similarity(queries, corpus), atol=1e-12)


def test_top_k_matches_a_full_sort_and_leaves_out_zero_scores(corpus):
    estimator = CosineSimilaritiesEstimator().fit(corpus)
    for query in range(10):
        scores = estimator.predict(corpus[query])[0]
        indices, top_scores = estimator.top_k(corpus[query], 7)[0]
        expected = [i for i in np.lexsort((np.arange(len(scores)), -scores)) if scores[i] > 0][:7]
        assert indices.tolist() == expected
        np.testing.assert_allclose(top_scores, scores[expected], atol=1e-12)
        assert np.all(top_scores > 0) and np.all(top_scores <= 1.0)


def test_top_k_breaks_ties_by_index():
    corpus = sp.csr_matrix(np.array([[1.0, 0], [0, 1.0], [1.0, 0], [1.0, 0]]))
    indices, scores = CosineSimilaritiesEstimator().fit(corpus).top_k(sp.csr_matrix([[1.0, 0]]), 2)[0]
    assert indices.tolist() == [0, 2]
    assert scores.tolist() == [1.0, 1.0]


def test_cosine_estimator_conventions(corpus):
    estimator = CosineSimilaritiesEstimator()
    with pytest.raises(NotFittedError):
        estimator.predict(corpus)
    estimator.fit(corpus)
    check_is_fitted(estimator)
    assert np.allclose(sp.linalg.norm(estimator.corpus_, axis=1)[sp.linalg.norm(corpus, axis=1) > 0], 1.0)
    with pytest.raises(ValueError, match="terms"):
        estimator.predict(sp.csr_matrix((1, 5)))


def test_refitting_drops_what_was_cached_from_the_previous_fit(corpus):
    lemmatizer = LemmatizationTransformer().fit(["eu jogo"])
    assert lemmatizer.transform(["corremos"]) == [["corremos"]]  # not a lemma of that corpus
    lemmatizer.fit(["ele correu"])
    assert lemmatizer.transform(["corremos"]) == [["correr"]]

    estimator = CosineSimilaritiesEstimator(latent_components=3).fit(corpus)
    estimator.top_k(corpus[:1], 5)
    # Refitted, or its query-time blend changed: ranked as predict() scores, not with the old index.
    for change in (lambda: estimator.fit(corpus[10:]), lambda: estimator.set_params(latent_weight=0.9)):
        change()
        scores = estimator.predict(corpus[:1])[0]
        indices, top = estimator.top_k(corpus[:1], 5)[0]
        np.testing.assert_allclose(top, scores[indices], atol=1e-12)
        assert len(scores) == 20


def test_build_pipeline_returns_a_fresh_pipeline_each_call():
    first, second = build_pipeline(), build_pipeline()
    assert first is not second
    assert first.named_steps["lemmas"] is not second.named_steps["lemmas"]
    assert [name for name, _ in first.steps] == ["lemmas", "tfidf", "cosine"]
    tuned = build_pipeline(tfidf__sublinear_tf=True, lemmas__strip_accents=True)
    assert tuned.get_params()["tfidf__sublinear_tf"] is True
    assert build_pipeline().get_params()["tfidf__sublinear_tf"] is False
    assert clone(tuned).get_params()["lemmas__strip_accents"] is True


def test_pipeline_fits_and_ranks_related_text():
    docs = [
        "Aprendizagem de máquina com Python e scikit-learn",
        "Kubernetes e Docker em produção",
        "Modelos de machine learning servidos por uma API em Flask",
    ]
    pipeline = build_pipeline().fit(docs)
    check_is_fitted(pipeline)
    scores = pipeline.predict(["deploy de modelos de aprendizagem de máquina"])[0]
    assert scores[1] == 0.0
    assert scores.argmax() in (0, 2)


@pytest.mark.real_corpus
@pytest.mark.slow
def test_lemmas_equal_spacys_lookup_lemmatizer_on_the_real_corpus(real_csv):
    """The word-level caches of the fast path change no lemma, on every talk we have."""
    import pandas as pd
    import spacy

    talks = pd.read_csv(real_csv, dtype=str, keep_default_na=False)
    texts = (talks["title"] + "\n" + talks["description"]).tolist()
    nlp = spacy.blank("pt")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    expected = [
        [t.lemma_ for t in doc if not (t.is_stop or t.is_punct or t.like_num or t.is_space)]
        for doc in nlp.pipe(text.lower() for text in texts)
    ]
    fitted = LemmatizationTransformer()
    assert fitted.fit_transform(texts) == expected  # the corpus, while fitting
    assert fitted.transform(texts) == expected  # the same texts as queries
