"""The scikit-learn steps: LemmatizationTransformer and CosineSimilaritiesEstimator."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.utils.validation import check_is_fitted

from text_similarity_model import CosineSimilaritiesEstimator, LemmatizationTransformer, build_pipeline
from text_similarity_model.lemmatizer import SpacyModelNotFound


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
