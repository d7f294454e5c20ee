"""``QueryTfidfVectorizer``: scikit-learn's TF-IDF, with a query-sized transform
and, as an option, BM25 weights for the corpus' rows."""

from __future__ import annotations

import math
from collections import Counter
from functools import cached_property
from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.utils._param_validation import Interval, StrOptions
from spacy.lang.pt.stop_words import STOP_WORDS

from .caching import DropsCachesWhenPickled


#: ``stop_words="portuguese"``: spaCy's Portuguese list.
PORTUGUESE_STOP_WORDS = frozenset(STOP_WORDS)


class QueryTfidfVectorizer(DropsCachesWhenPickled, TfidfVectorizer):
    """``TfidfVectorizer`` whose ``transform`` skips scikit-learn's per-call
    validation and conversions.

    Fitting is scikit-learn's own, and so are every parameter and learned
    attribute (it *is* a ``TfidfVectorizer``). ``transform`` computes the same
    matrix as ``TfidfVectorizer.transform`` (counts over the fitted
    vocabulary, binary or sublinear tf, idf, row norm) in plain Python over
    the query's few dozen terms: the service transforms one query at a time,
    and scikit-learn's per-call machinery would cost more than the arithmetic.
    ``tests/test_fast_path.py`` checks the two agree on every parameter the
    tuning explores.

    Parameters (besides ``TfidfVectorizer``'s)
    ------------------------------------------
    stop_words : also ``"portuguese"``
        spaCy's Portuguese stop words (the list the lemmatizer drops words
        by), applied again to the lemmas: a word that is not a stop word may
        have one as its lemma (``"é"`` -> ``"ser"``).
    corpus_weighting : {"tfidf", "bm25"}, default "tfidf"
        How :meth:`fit_transform` weights the corpus' rows (what
        ``Pipeline.fit`` hands the scoring step). ``"tfidf"``: as
        ``TfidfVectorizer`` does. ``"bm25"``: BM25 document weights::

            w(t, d) = idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))

        ``tf(t, d)``: the term's count in the document (``binary``: 1);
        ``|d|``: the document's counted terms (its row of counts summed);
        ``avgdl``: their corpus mean (``avgdl_``); ``idf``: ``idf_``.
        ``sublinear_tf`` and ``norm`` don't apply to these rows (the scoring
        step normalises them: ``CosineSimilaritiesEstimator(corpus_norm=...)``).

        **Queries are never BM25-weighted**: :meth:`transform`,
        :meth:`transform_one` and :meth:`weights_one` give TF-IDF vectors
        whatever ``corpus_weighting`` is, so the queries and the same-talk
        detector's field vectors don't change with it. Documents and queries
        are weighted differently, as in BM25, so with ``"bm25"``
        ``fit_transform(X)`` differs from ``fit(X).transform(X)`` on purpose;
        :meth:`fit_corpus` gives both. A caller using a corpus talk as a query
        must take its query-side vector (``Model.related`` does).
    k1 : float >= 0, default 1.2
        BM25's term-frequency saturation: 0 counts a term once, larger values
        let repeated terms weigh more.
    b : float in [0, 1], default 0.75
        BM25's length normalisation: 0 none, 1 full.

    Attributes (besides ``TfidfVectorizer``'s)
    ------------------------------------------
    avgdl_ : float
        With ``corpus_weighting="bm25"``: the mean length of the fitted documents.
    """

    _parameter_constraints: dict = {
        **TfidfVectorizer._parameter_constraints,
        "stop_words": [StrOptions({"english", "portuguese"}), list, None],
        "corpus_weighting": [StrOptions({"tfidf", "bm25"})],
        "k1": [Interval(Real, 0, None, closed="left")],
        "b": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, *, input="content", encoding="utf-8", decode_error="strict", strip_accents=None,
                 lowercase=True, preprocessor=None, tokenizer=None, analyzer="word", stop_words=None,
                 token_pattern=r"(?u)\b\w\w+\b", ngram_range=(1, 1), max_df=1.0, min_df=1, max_features=None,
                 vocabulary=None, binary=False, dtype=np.float64, norm="l2", use_idf=True, smooth_idf=True,
                 sublinear_tf=False, corpus_weighting="tfidf", k1=1.2, b=0.75):
        super().__init__(input=input, encoding=encoding, decode_error=decode_error, strip_accents=strip_accents,
                         lowercase=lowercase, preprocessor=preprocessor, tokenizer=tokenizer, analyzer=analyzer,
                         stop_words=stop_words, token_pattern=token_pattern, ngram_range=ngram_range,
                         max_df=max_df, min_df=min_df, max_features=max_features, vocabulary=vocabulary,
                         binary=binary, dtype=dtype, norm=norm, use_idf=use_idf, smooth_idf=smooth_idf,
                         sublinear_tf=sublinear_tf)
        self.corpus_weighting = corpus_weighting
        self.k1 = k1
        self.b = b

    def transform(self, raw_documents):
        """Tf-idf vectors of ``raw_documents``: a CSR matrix of shape
        (n_documents, n_terms), float64, column indices sorted."""
        if isinstance(raw_documents, str) or not hasattr(self, "vocabulary_") or not hasattr(self, "idf_"):
            return super().transform(raw_documents)  # scikit-learn's errors
        rows = [self.transform_one(document) for document in raw_documents]
        indptr = np.zeros(len(rows) + 1, dtype=np.int32)
        np.cumsum([len(terms) for terms, _ in rows], out=indptr[1:])
        indices = np.concatenate([terms for terms, _ in rows]) if rows else np.empty(0, np.int32)
        data = np.concatenate([weights for _, weights in rows]) if rows else np.empty(0)
        return sp.csr_matrix((data, indices, indptr), shape=(len(rows), len(self.vocabulary_)))

    def transform_one(self, document) -> tuple[np.ndarray, np.ndarray]:
        """One document's tf-idf vector as ``(terms, weights)``: its non-zero
        columns, ascending (int32), and their values (float64); the row
        :meth:`transform` would give, without building a matrix.

        A query has a few dozen terms: the arithmetic is done on Python
        floats and only the two result arrays are NumPy's (a NumPy call per
        step would cost more than the arithmetic).
        """
        columns, values = self._weights(document)
        return np.array(columns, dtype=np.int32), np.array(values, dtype=np.float64)

    def weights_one(self, document) -> dict[int, float]:
        """:meth:`transform_one` as ``{column: value}``, in plain Python, for
        callers that look terms up rather than rank (:mod:`.repeats`).

        The defaults (counts times idf, L2 norm) in one pass over the
        document's distinct features, without sorting them; other options
        through :meth:`transform_one`'s steps. ``tests/test_fast_path.py``
        holds the two equal.
        """
        analyze, vocabulary, idf = self._query_state
        if self.binary or self.sublinear_tf or idf is None or self.norm != "l2":
            return dict(zip(*self._weights(document)))
        get = vocabulary.get
        weights = {}
        for feature, count in Counter(analyze(document)).items():
            column = get(feature)
            if column is not None:
                weights[column] = count * idf[column]
        norm = math.hypot(*weights.values())
        return {column: value / norm for column, value in weights.items()} if norm > 0 else weights

    def _weights(self, document) -> tuple[list[int], list[float]]:
        """One document's non-zero columns, ascending, and their values."""
        analyze, vocabulary, idf = self._query_state
        # Counted by Counter's C loop; then one look-up per distinct feature.
        counter = Counter(analyze(document))
        counts = sorted(
            (column, count) for column, count in zip(map(vocabulary.get, counter), counter.values())
            if column is not None
        )
        columns = [column for column, _ in counts]
        if self.binary:
            values = [1.0] * len(counts)
        elif self.sublinear_tf:
            values = [math.log(count) + 1.0 for _, count in counts]
        else:
            values = [float(count) for _, count in counts]
        if idf is not None:
            values = [value * idf[column] for value, column in zip(values, columns)]
        if self.norm is not None and values:
            norm = math.hypot(*values) if self.norm == "l2" else math.fsum(map(abs, values))
            if norm > 0:
                values = [value / norm for value in values]
        return columns, values

    @cached_property
    def _query_state(self):
        """The analyzer, vocabulary and idf (a list), built from the fitted state once."""
        return self.build_analyzer(), self.vocabulary_, self.idf_.tolist() if self.use_idf else None

    def __setstate__(self, state):
        # A model file written before these parameters existed: its corpus rows were TF-IDF.
        super().__setstate__({"corpus_weighting": "tfidf", "k1": 1.2, "b": 0.75, **state})

    def get_stop_words(self):
        """The stop words as a frozenset (``"portuguese"``: spaCy's list), or None."""
        if isinstance(self.stop_words, str) and self.stop_words == "portuguese":
            return PORTUGUESE_STOP_WORDS
        return super().get_stop_words()

    def fit(self, raw_documents, y=None):
        """Learn the vocabulary and idf (and ``avgdl_`` with BM25). Returns ``self``."""
        self.fit_corpus(raw_documents)
        return self

    def fit_transform(self, raw_documents, y=None):
        """Fit and return the corpus' rows, weighted as ``corpus_weighting``
        says: a CSR matrix of shape (n_documents, n_terms)."""
        return self.fit_corpus(raw_documents)[0]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_corpus(self, raw_documents) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Fit, and return the documents' rows twice: as the corpus is weighted
        (:meth:`fit_transform`'s) and as queries are (:meth:`transform`'s),
        each of shape (n_documents, n_terms). The same matrix twice with
        ``corpus_weighting="tfidf"``; with ``"bm25"`` both come from one
        count of the corpus."""
        self._drop_caches()
        self._check_params()
        # As TfidfVectorizer.fit_transform does, keeping the counts for BM25.
        self._tfidf = TfidfTransformer(norm=self.norm, use_idf=self.use_idf, smooth_idf=self.smooth_idf,
                                       sublinear_tf=self.sublinear_tf)
        counts = CountVectorizer.fit_transform(self, raw_documents)
        self._tfidf.fit(counts)
        if self.corpus_weighting == "tfidf":
            rows = self._tfidf.transform(counts, copy=False)
            return rows, rows
        queries = self._tfidf.transform(counts, copy=True)
        idf = self.idf_ if self.use_idf else np.ones(counts.shape[1])
        corpus, self.avgdl_ = bm25_weights(counts, idf, self.k1, self.b)
        return corpus, queries


def bm25_weights(counts: sp.csr_matrix, idf: np.ndarray, k1: float, b: float) -> tuple[sp.csr_matrix, float]:
    """The BM25 document weights of a (n_documents, n_terms) ``counts``
    matrix (see :class:`QueryTfidfVectorizer`'s ``corpus_weighting``), in one
    vectorised pass over its stored values, and the mean document length."""
    counts = sp.csr_matrix(counts, dtype=np.float64)
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    avgdl = float(lengths.mean()) if len(lengths) and lengths.mean() > 0 else 1.0
    tf = counts.data
    # Each stored value's document length, normalised.
    relative_length = np.repeat(lengths / avgdl, np.diff(counts.indptr))
    data = idf[counts.indices] * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * relative_length))
    weights = sp.csr_matrix((data, counts.indices.copy(), counts.indptr.copy()), shape=counts.shape)
    weights.sort_indices()
    return weights, avgdl
