"""The fast predict path gives the straightforward pipeline's answers.

Model.predict skips scikit-learn's and scipy's per-call machinery
(QueryTfidfVectorizer.transform, CosineSimilaritiesEstimator.top_k on the
inverted index); these tests hold it to the same indexes, and scores within
1e-9, as scikit-learn's TfidfVectorizer.transform, a scipy sparse product
and a full sort of the whole corpus.
"""

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from text_similarity_model import Model
from text_similarity_model.steps import ranking
from text_similarity_model.steps.text import passthrough
from text_similarity_model.steps.vectorizer import QueryTfidfVectorizer

from tests.support.ranking import sample_queries, straightforward_ranking


@pytest.mark.parametrize("n_results", [1, 3, 10, 50])
def test_predict_equals_the_straightforward_pipeline(trained_model, sample_talks, n_results):
    for title, description in sample_queries(sample_talks):
        predictions = trained_model.predict({"title": title, "description": description}, n_results)["predictions"]
        expected_indexes, expected_scores = straightforward_ranking(trained_model, title, description, n_results)
        assert [p["index"] for p in predictions] == expected_indexes
        np.testing.assert_allclose([p["score"] for p in predictions], expected_scores, rtol=0, atol=1e-9)


def test_filtered_predict_equals_the_straightforward_pipeline(trained_model, sample_talks):
    mask = (sample_talks["ano"].astype(int) == 2018).to_numpy()
    for title, description in sample_queries(sample_talks, 20):
        predictions = trained_model.predict({"title": title, "description": description}, 5,
                                            filters={"ano": [2018]})["predictions"]
        expected_indexes, expected_scores = straightforward_ranking(trained_model, title, description, 5, mask)
        assert [p["index"] for p in predictions] == expected_indexes
        np.testing.assert_allclose([p["score"] for p in predictions], expected_scores, rtol=0, atol=1e-9)


@pytest.mark.parametrize("params", [
    {}, {"sublinear_tf": True}, {"binary": True}, {"norm": "l1"}, {"norm": None}, {"use_idf": False},
    {"ngram_range": (1, 2), "min_df": 2}, {"max_df": 0.2}, {"smooth_idf": False},
])
def test_query_vectorizer_equals_scikit_learns_transform(sample_talks, params):
    documents = [(title + " " + description).lower().split()
                 for title, description in zip(sample_talks["title"], sample_talks["description"])]
    vectorizer = QueryTfidfVectorizer(tokenizer=passthrough, preprocessor=passthrough, token_pattern=None,
                                      lowercase=False, **params).fit(documents)
    queries = documents[:40] + [[], ["palavra-desconhecida"], documents[0] * 3]
    ours = vectorizer.transform(queries)
    theirs = TfidfVectorizer.transform(vectorizer, queries)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=0, atol=1e-12)
    # weights_one, the same rows as {column: value} (its own pass for the defaults).
    for query, row in zip(queries, theirs):
        weights = vectorizer.weights_one(query)
        assert sorted(weights) == row.indices.tolist()
        np.testing.assert_allclose([weights[column] for column in row.indices.tolist()], row.data, rtol=0, atol=1e-12)


def test_a_reloaded_model_takes_the_same_fast_path(sample_model_path, trained_model, sample_talks):
    restored = Model.deserialize(sample_model_path)
    for title, description in sample_queries(sample_talks, 10):
        query = {"title": title, "description": description}
        assert restored.predict(query, 5) == trained_model.predict(query, 5)


#: The corpus weightings and norms the scoring step takes: BM25 rows ranked as
#: a cosine and as a dot product (max norm), and TF-IDF rows under each norm.
WEIGHTINGS = [
    {"tfidf__corpus_weighting": "bm25", "tfidf__k1": 10.0, "tfidf__b": 0.75, "cosine__corpus_norm": "l2"},
    {"tfidf__corpus_weighting": "bm25", "tfidf__k1": 5.0, "tfidf__b": 0.75, "tfidf__sublinear_tf": True,
     "cosine__corpus_norm": "max"},
    {"tfidf__corpus_weighting": "bm25", "tfidf__k1": 0.0, "tfidf__b": 1.0, "cosine__corpus_norm": "max"},
    {"tfidf__corpus_weighting": "bm25", "tfidf__k1": 1.2, "tfidf__b": 0.0, "cosine__corpus_norm": "l2",
     "cosine__latent_components": 20},
    {"tfidf__corpus_weighting": "tfidf", "cosine__corpus_norm": "max"},
    {"tfidf__corpus_weighting": "tfidf", "cosine__corpus_norm": "l2"},
]


@pytest.fixture(scope="module", params=WEIGHTINGS, ids=lambda params: "-".join(map(str, params.values())))
def weighted_model(request, sample_talks):
    model = Model(version="weighted", **request.param)
    model.train(sample_talks)
    return model


def test_every_corpus_weighting_takes_the_same_fast_path(weighted_model, sample_talks):
    """Kernel, NumPy ranker and the straightforward pipeline agree on every weighting and norm."""
    lemmas, tfidf, cosine = (weighted_model.pipeline.named_steps[name] for name in ("lemmas", "tfidf", "cosine"))
    mask = (sample_talks["ano"].astype(int) == 2018).to_numpy()
    for title, description in sample_queries(sample_talks, 30):
        terms, weights = tfidf.transform_one(lemmas.transform([(title, description)])[0])
        for talk_mask in (None, mask):
            expected_indexes, expected_scores = straightforward_ranking(weighted_model, title, description, 10,
                                                                        talk_mask)
            rankers = [ranking.rank_numpy]
            if ranking.ranking_backend() == "compiled":
                rankers.append(ranking.rank_compiled)
            for rank in rankers:
                indexes, scores = rank(cosine._ranking_index, terms, weights, 10, talk_mask)
                assert indexes.tolist() == list(expected_indexes), rank.__name__
                np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-9)
        predictions = weighted_model.predict({"title": title, "description": description}, 10)["predictions"]
        expected_indexes, expected_scores = straightforward_ranking(weighted_model, title, description, 10)
        assert [p["index"] for p in predictions] == list(expected_indexes)
        assert all(0 < p["score"] <= 1 for p in predictions)
        # A talk's explanation shares add up to its score (no LSA) or to its lexical part.
        for prediction in predictions:
            shares = sum(term["weight"] for term in prediction["terms"])
            assert shares <= prediction["score"] + 1e-9


def test_bm25_corpus_rows_are_the_bm25_formula_and_queries_stay_tfidf(weighted_model, sample_talks):
    lemmas, tfidf, cosine = (weighted_model.pipeline.named_steps[name] for name in ("lemmas", "tfidf", "cosine"))
    documents = lemmas.transform(sample_talks[["title", "description"]])
    counts = CountVectorizer(analyzer=tfidf.build_analyzer(), vocabulary=tfidf.vocabulary_).transform(documents)
    counts = counts.toarray().astype(float)
    if tfidf.corpus_weighting == "bm25":
        k1, b = tfidf.k1, tfidf.b
        lengths = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore"):  # k1 = 0: 0 / 0 where a term is absent, set to 0 below
            rows = tfidf.idf_ * counts * (k1 + 1) / (counts + k1 * (1 - b + b * lengths / lengths.mean()))
        rows[counts == 0] = 0.0
    else:
        rows = TfidfVectorizer.transform(tfidf, documents).toarray()
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    expected = rows / np.where(norms > 0, norms, 1) if cosine.corpus_norm == "l2" else rows / norms.max()
    np.testing.assert_allclose(cosine.corpus_.toarray(), expected, rtol=0, atol=1e-12)
    # Queries (and the same-talk detector's field vectors) are scikit-learn's TF-IDF whatever the weighting.
    np.testing.assert_allclose(tfidf.transform(documents[:20]).toarray(),
                               TfidfVectorizer.transform(tfidf, documents[:20]).toarray(), rtol=0, atol=1e-12)


def test_a_corpus_talk_is_ranked_by_its_query_vector(weighted_model):
    """related(i) ranks talk i as predict ranks its text: its query-side (TF-IDF)
    vector, not its BM25 corpus row."""
    for index in range(0, len(weighted_model), max(1, len(weighted_model) // 15)):
        talk = weighted_model.talk(index)
        related = weighted_model.related(index, 5)["predictions"]
        predicted = [p for p in weighted_model.predict(talk, 6)["predictions"] if p["index"] != index][:5]
        assert [p["index"] for p in related] == [p["index"] for p in predicted]
        np.testing.assert_allclose([p["score"] for p in related], [p["score"] for p in predicted], atol=1e-9)
        assert [p["terms"] for p in related] == [p["terms"] for p in predicted]
