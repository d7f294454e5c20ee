"""The compiled ranking kernel (text_similarity_model/steps/_ranking.c) and its
NumPy twin give the same answers; the kernel refuses bad input instead of
reading out of bounds.

tests/test_fast_path.py holds the service's path (the kernel, when built) to
the straightforward pipeline; here the NumPy path is held to it too, and the
two paths to each other on every talk of the real corpus.
"""

import numpy as np
import pytest

from text_similarity_model.steps import ranking

from tests.support.ranking import sample_queries, straightforward_ranking
from tests.support.require import skip_or_fail


@pytest.fixture
def kernel():
    if ranking.ranking_backend() != "compiled":
        # .ci/run sets PALESTRAS_REQUIRE_KERNEL=1: there the kernel must have been built (gcc).
        skip_or_fail("the C ranking kernel was not built (no C compiler at install?): NumPy path only",
                     "PALESTRAS_REQUIRE_KERNEL")
    return ranking._ranking


def rank_with_numpy(cosine, terms, weights, k, mask=None):
    """``cosine.transform_one`` by the NumPy ranker, whatever the install's."""
    return ranking.rank_numpy(cosine._ranking_index, terms, weights, k, mask)


def rank_compiled(cosine, terms, weights, k, mask=None):
    return ranking.rank_compiled(cosine._ranking_index, terms, weights, k, mask)


def test_the_numpy_path_equals_the_straightforward_pipeline(trained_model, sample_talks):
    lemmas, tfidf, cosine = (trained_model.pipeline.named_steps[name] for name in ("lemmas", "tfidf", "cosine"))
    mask = np.asarray(sample_talks["ano"].astype(str) == "2018")
    for n_results in (1, 3, 25):
        for title, description in sample_queries(sample_talks):
            terms, weights = tfidf.transform_one(lemmas.transform([(title, description)])[0])
            for talk_mask in (None, mask):
                indexes, scores = rank_with_numpy(cosine, terms, weights, n_results, talk_mask)
                expected_indexes, expected_scores = straightforward_ranking(
                    trained_model, title, description, n_results, talk_mask)
                assert indexes.tolist() == list(expected_indexes)
                np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-9)


@pytest.mark.real_corpus
@pytest.mark.slow
def test_kernel_and_numpy_agree_on_every_talk_of_the_real_corpus(kernel, real_model):
    model = real_model
    lemmas, tfidf, cosine = (model.pipeline.named_steps[name] for name in ("lemmas", "tfidf", "cosine"))
    rng = np.random.default_rng(2019)
    corpus = model._columns
    for row in range(len(model)):
        terms, weights = tfidf.transform_one(lemmas.transform([(corpus["title"][row], corpus["description"][row])])[0])
        k = int(rng.integers(1, 60))
        mask = rng.random(len(model)) < 0.3 if row % 4 == 0 else None
        compiled_indexes, compiled_scores = rank_compiled(cosine, terms, weights, k, mask)
        numpy_indexes, numpy_scores = rank_with_numpy(cosine, terms, weights, k, mask)
        assert compiled_indexes.tolist() == numpy_indexes.tolist(), f"talk {row}"
        np.testing.assert_allclose(compiled_scores, numpy_scores, rtol=0, atol=1e-12)


def test_the_kernel_answers_nothing_for_no_match_or_an_empty_mask(kernel, trained_model):
    cosine = trained_model.pipeline[-1]
    terms = np.array([0, 1], dtype=np.int32)
    indexes, scores = rank_compiled(cosine, terms, np.array([1.0, 1.0]), 5, np.zeros(len(trained_model), dtype=bool))
    assert len(indexes) == len(scores) == 0
    indexes, _ = rank_compiled(cosine, np.empty(0, dtype=np.int32), np.empty(0), 5)
    assert len(indexes) == 0
    # The accumulator was reset: the same query answers the same afterwards.
    first = rank_compiled(cosine, terms, np.array([1.0, 1.0]), 5)
    assert rank_compiled(cosine, terms, np.array([1.0, 1.0]), 5)[0].tolist() == first[0].tolist()


def test_the_kernel_refuses_out_of_range_terms_and_wrong_types(kernel, trained_model):
    index = trained_model.pipeline[-1]._ranking_index
    indptr, indices, n_documents = index.indptr, index.indices, index.n_documents
    out_documents, out_scores = np.empty(3, dtype=np.int64), np.empty(3)

    def call(terms, weights=None, **changes):
        """The kernel itself, unguarded: its arguments in the order of its signature (_ranking.c)."""
        arguments = dict(indptr=indptr, indices=indices, data=index.data, n_documents=n_documents,
                         positive_index=index.positive_index, terms=terms,
                         weights=np.ones(len(terms)) if weights is None else weights,
                         latent_terms=index.latent_terms, latent_corpus=index.latent_corpus)
        arguments.update(changes)
        return kernel.rank(*arguments.values(), 0.5, 200, None, out_documents, out_scores)

    with pytest.raises(ValueError, match="outside the vocabulary"):
        call(np.array([len(indptr) - 1], dtype=np.int32))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        call(np.array([-1], dtype=np.int32))
    with pytest.raises(TypeError, match="terms"):
        call(np.array([0], dtype=np.int64))
    with pytest.raises(ValueError, match="inconsistent sizes"):
        call(np.array([0], dtype=np.int32), weights=np.ones(2))
    with pytest.raises(ValueError, match="corrupt"):
        bad_indices = indices.copy()
        bad_indices[indptr[0]:indptr[1]] = n_documents  # a posting past the last talk
        call(np.array([0], dtype=np.int32), indices=bad_indices)
    assert call(np.array([0], dtype=np.int32)) >= 1  # and it still works afterwards


def test_kernel_and_numpy_agree_on_a_large_corpus_and_on_negative_weights(kernel):
    """Above 65,536 talks the kernel reads its accumulator in order when a
    query matches many of them, and keeps a heap of candidates; queries with
    negative weights take its general path. All give NumPy's answers."""
    import scipy.sparse as sp

    from text_similarity_model import CosineSimilaritiesEstimator

    rng = np.random.default_rng(6)
    n_documents, n_terms = 70_000, 400
    # Term frequencies from very common to rare, as in text.
    document_frequency = np.geomspace(0.3, 1e-4, n_terms)
    corpus = sp.csr_matrix((rng.random((n_documents, n_terms)) < document_frequency) * rng.random((n_documents, n_terms)))
    cosine = CosineSimilaritiesEstimator(latent_components=8, latent_candidates=50).fit(corpus)
    queries = [rng.choice(n_terms, size=size, replace=False) for size in (1, 3, 8, 20)]  # random: common and rare
    queries += [np.arange(300, 310), np.arange(0, 4)]  # only rare terms; only the most common
    for terms in queries:
        terms = np.sort(terms).astype(np.int32)
        for weights in (rng.random(len(terms)) + 0.1, rng.normal(size=len(terms))):
            for k, mask in ((5, None), (40, rng.random(n_documents) < 0.5), (50, None), (60, None)):
                compiled = rank_compiled(cosine, terms, weights, k, mask)
                expected = rank_with_numpy(cosine, terms, weights, k, mask)
                assert compiled[0].tolist() == expected[0].tolist()
                np.testing.assert_allclose(compiled[1], expected[1], rtol=0, atol=1e-12)


def test_kernel_and_numpy_agree_when_talks_left_out_of_the_re_scoring_tie_with_those_in_it(kernel):
    """On a large corpus without a mask the kernel takes the k best from the
    re-scored candidates alone when none of the others can reach them; with
    many talks of the very same cosine (duplicates) they can tie, and the
    whole corpus decides, ties by talk, as NumPy does."""
    import scipy.sparse as sp

    from text_similarity_model import CosineSimilaritiesEstimator

    rng = np.random.default_rng(11)
    n_documents, n_terms = 70_000, 50
    rows = sp.csr_matrix((rng.random((40, n_terms)) < 0.2) * rng.random((40, n_terms)))
    corpus = sp.vstack([rows[rng.integers(0, 40, size=n_documents)]], format="csr")  # each row ~1,750 times
    for latent_weight in (0.0, 0.5, 1.0):
        cosine = CosineSimilaritiesEstimator(latent_components=4, latent_candidates=30,
                                             latent_weight=latent_weight).fit(corpus)
        for row in range(10):
            terms = rows[row].indices.astype(np.int32)
            if len(terms) == 0:
                continue
            for k in (1, 10, 30):
                compiled = rank_compiled(cosine, terms, rows[row].data, k)
                expected = rank_with_numpy(cosine, terms, rows[row].data, k)
                assert compiled[0].tolist() == expected[0].tolist()
                np.testing.assert_allclose(compiled[1], expected[1], rtol=0, atol=1e-12)


def test_an_index_past_the_kernels_32_bit_offsets_is_ranked_by_numpy(trained_model, sample_talks):
    """Past 2**31 postings scipy stores the index with int64 offsets, which the
    kernel doesn't take: such an index says so when built, and NumPy ranks it."""
    import copy

    cosine = trained_model.pipeline.named_steps["cosine"]
    large = copy.deepcopy(cosine)  # without the cached ranking index
    large.inverted_index_.indptr = large.inverted_index_.indptr.astype(np.int64)
    large.inverted_index_.indices = large.inverted_index_.indices.astype(np.int64)
    assert not large._ranking_index.fits_kernel and large._rank_one.func is ranking.rank_numpy
    lemmas, tfidf = trained_model.pipeline.named_steps["lemmas"], trained_model.pipeline.named_steps["tfidf"]
    for title, description in sample_queries(sample_talks, 10):
        terms, weights = tfidf.transform_one(lemmas.transform_one((title, description)))
        expected_indexes, expected_scores = cosine.transform_one(terms, weights, 5)
        indexes, scores = large.transform_one(terms, weights, 5)
        assert indexes.tolist() == expected_indexes.tolist()
        np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=1e-12)
