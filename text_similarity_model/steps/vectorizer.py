"""``QueryTfidfVectorizer``: scikit-learn's TF-IDF, with a query-sized transform."""

from __future__ import annotations

import math
from collections import Counter
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from .caching import DropsCachesWhenPickled


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
    """

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

    def fit(self, raw_documents, y=None):
        self._drop_caches()
        return super().fit(raw_documents, y)

    def fit_transform(self, raw_documents, y=None):
        self._drop_caches()
        return super().fit_transform(raw_documents, y)
