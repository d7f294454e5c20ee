"""The fast predict path gives the straightforward pipeline's answers.

Model.predict skips scikit-learn's and scipy's per-call machinery
(QueryTfidfVectorizer.transform, CosineSimilaritiesEstimator.top_k on the
inverted index); these tests hold it to the same indexes, and scores within
1e-9, as scikit-learn's TfidfVectorizer.transform, a scipy sparse product
and a full sort of the whole corpus.
"""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from text_similarity_model import Model
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
