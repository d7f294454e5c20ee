"""The work only the returned talks need (why each matched, same_talk, the
answer dicts) is done by the compiled kernel (``_ranking.c``: ``explain``,
``row_dots``, ``predictions``) when it was built; answers stay exactly those of
the plain Python path they replaced: ``CosineSimilaritiesEstimator.explain``,
``RepeatDetector.same_talks_python`` and dicts of the corpus' columns.
"""

import numpy as np
import pytest

from text_similarity_model.answers import explanations
from text_similarity_model.model import N_TERMS
from text_similarity_model.steps import ranking

from tests.support.ranking import sample_queries
from tests.support.require import skip_or_fail


@pytest.fixture
def kernel():
    if ranking.compiled_kernel() is None:
        skip_or_fail("the C ranking kernel was not built (no C compiler at install?): Python path only",
                     "PALESTRAS_REQUIRE_KERNEL")
    return ranking.compiled_kernel()


def plain_answer(model, query, n_results):
    """``Model.predict``'s answer as the plain path computes it: the ranking's
    talks, ``CosineSimilaritiesEstimator.explain``, the same-talk detector's
    Python loop, one dict per talk from the corpus' arrays."""
    lemmas, tfidf, cosine = model._steps
    title_lemmas, description_lemmas = lemmas.lemmatize_fields((query["title"], query["description"]))
    terms, weights = tfidf.transform_one(lemmas.combine(title_lemmas, description_lemmas))
    indices, scores = cosine.transform_one(terms, weights, n_results)
    fields = model.repeats.query_vectors(tfidf.weights_one(lemmas.field_document(title_lemmas)),
                                         tfidf.weights_one(lemmas.field_document(description_lemmas)))
    shared = cosine.explain(terms, weights, indices, N_TERMS)
    same_talks = model.repeats.same_talks_python(*fields, indices)
    names = tfidf.get_feature_names_out().tolist()
    predictions = []
    for index, score, terms_of_talk, same_talk in zip(indices.tolist(), scores.tolist(), shared, same_talks):
        prediction = {column: values.item(index) for column, values in model._columns.items()}
        prediction.update(score=score, index=index,
                          terms=[{"term": names[term], "weight": weight} for term, weight in terms_of_talk],
                          same_talk=same_talk)
        predictions.append(prediction)
    return predictions


def answer_queries(talks):
    """Each talk as a query (its own talk comes first, same_talk), lightly edited
    (a re-given talk), and mixed with another's description (no repeat)."""
    queries = [{"title": title, "description": description} for title, description in sample_queries(talks, 200)]
    edited = [{"title": query["title"] + " (versão 2)", "description": query["description"][:-40]}
              for query in queries[:60]]
    return queries + edited


@pytest.mark.real_corpus
@pytest.mark.slow
def test_predict_answers_exactly_as_the_plain_path_on_the_real_corpus(kernel, real_model, real_talks):
    same_talk_seen = {True: 0, False: 0}
    for query in answer_queries(real_talks):
        for n_results in (1, 20):
            predictions = real_model.predict(query, n_results)["predictions"]
            expected = plain_answer(real_model, query, n_results)
            assert predictions == expected, query["title"]
            # Same keys in the same order: the JSON answer is byte for byte the same.
            assert [list(prediction) for prediction in predictions] == [list(answer) for answer in expected]
            for prediction in predictions:
                same_talk_seen[prediction["same_talk"]] += 1
    assert same_talk_seen[True] >= 100 and same_talk_seen[False] >= 1000  # both sides of the rule were tried


def test_each_kernel_equals_its_python_twin_on_the_sample_corpus(kernel, trained_model, sample_talks):
    """Explanations and same_talk of every talk returned, and of talks the
    ranking didn't return (any document may be asked about)."""
    lemmas, tfidf, cosine = trained_model._steps
    repeats = trained_model.repeats
    every_talk = np.arange(len(trained_model))
    for title, description in sample_queries(sample_talks):
        title_lemmas, description_lemmas = lemmas.lemmatize_fields((title, description))
        terms, weights = tfidf.transform_one(lemmas.combine(title_lemmas, description_lemmas))
        fields = repeats.query_vectors(tfidf.weights_one(lemmas.field_document(title_lemmas)),
                                       tfidf.weights_one(lemmas.field_document(description_lemmas)))
        for n in (0, 1, N_TERMS, 1000):
            assert explanations(cosine, terms, weights, every_talk, n) == cosine.explain(terms, weights, every_talk, n)
        assert repeats.same_talks(*fields, every_talk) == repeats.same_talks_python(*fields, every_talk)
        ranked = trained_model.rank({"title": title, "description": description}, 25)
        assert trained_model._answers.predictions(ranked) == trained_model._answers.predictions_python(ranked)


def test_the_kernels_refuse_rows_and_terms_outside_their_matrix(kernel, trained_model):
    corpus = trained_model._steps.cosine.corpus_
    titles = trained_model.repeats.titles_
    n_talks, n_terms = corpus.shape
    terms = np.array([0, 1], dtype=np.int32)

    def explain(documents, terms=terms, n_terms=n_terms):
        return kernel.explain(corpus.indptr, corpus.indices, corpus.data, n_terms,
                              np.array(documents, dtype=np.int64), terms, np.ones(len(terms)), 1.0, 5)

    def row_dots(documents, query):
        return kernel.row_dots(titles.indptr, titles.indices, titles.data, n_terms,
                               np.array(documents, dtype=np.int64), query, np.empty(len(documents)))

    for bad_talk in (n_talks, -1):
        with pytest.raises(ValueError, match="outside the matrix"):
            explain([0, bad_talk])
        with pytest.raises(ValueError, match="outside the matrix"):
            row_dots([bad_talk], {0: 1.0})
    with pytest.raises(ValueError, match="outside the vocabulary"):
        explain([0], terms=np.array([n_terms], dtype=np.int32))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        row_dots([0], {n_terms: 1.0})
    with pytest.raises(ValueError, match="corrupt"):
        explain([0], terms=np.array([0], dtype=np.int32), n_terms=1)  # its row has terms past a vocabulary of 1
    with pytest.raises(TypeError):
        row_dots([0], {"flask": 1.0})
    with pytest.raises(IndexError, match="outside the columns"):
        kernel.predictions([("title", ["a"])], ["x"], [1], [0.5], [[]], [False])
    with pytest.raises(IndexError, match="outside the vocabulary"):
        kernel.predictions([("title", ["a"])], ["x"], [0], [0.5], [[(1, 0.5)]], [False])
    # And they still answer afterwards, the scratch cleared.
    cosine, every_talk = trained_model._steps.cosine, np.arange(n_talks)
    assert explanations(cosine, terms, np.ones(2), every_talk, 5) == cosine.explain(terms, np.ones(2), every_talk, 5)
    assert trained_model.repeats.same_talks({0: 1.0}, {}, every_talk) == trained_model.repeats.same_talks_python(
        {0: 1.0}, {}, every_talk)
