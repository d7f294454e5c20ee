"""``CosineSimilaritiesEstimator``: ranks a fitted corpus of TF-IDF vectors against queries."""

from __future__ import annotations

import math
from functools import cached_property, partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .caching import DropsCachesWhenPickled
from ..quality.measures import RANKING_DEPTH, RankingMetrics, same_label_metrics
from .ranking import RankingIndex, blend, ranker_for
from .text import l2_normalized

#: The k of ``CosineSimilaritiesEstimator.score``: precision of the 5 best talks.
SCORE_K = 5

# The latent space is fitted on at most this many talks (a random sample),
# and the corpus projected on it in chunks of this size: bounded memory.
_LATENT_FIT_MAX_DOCUMENTS = 100_000


class CosineSimilaritiesEstimator(DropsCachesWhenPickled, BaseEstimator):
    """Cosine similarity of queries to a fitted corpus of TF-IDF vectors,
    optionally blended with a latent-semantic (LSA) similarity.

    Parameters
    ----------
    corpus_norm : {"l2", "max"}, default "l2"
        How the corpus' rows are scaled. ``"l2"``: each to unit length, so a
        score is the cosine of the query and the talk. ``"max"``: all of them
        divided by the largest row norm, one constant, so talks rank by the
        dot product of the (L2-normalised) query and their rows (BM25's sum,
        with ``QueryTfidfVectorizer(corpus_weighting="bm25")``); scores stay
        in [0, 1] (Cauchy-Schwarz) but are no longer cosines.
    latent_components : int >= 0, default 0
        0: the score is the TF-IDF cosine, a purely sparse computation.
        Otherwise the number of :class:`~sklearn.decomposition.TruncatedSVD`
        components of a latent-semantic space fitted on the corpus, where
        talks about the same subject in different words come close.
    latent_weight : float in [0, 1], default 0.5
        With ``latent_components``: a re-scored talk's score is
        ``(1 - latent_weight) * cosine + latent_weight * max(latent cosine, 0)``.
    latent_candidates : int >= 1, default 200
        With ``latent_components``: how many of a query's best TF-IDF matches
        are re-scored. The others keep ``(1 - latent_weight) * cosine``, which
        never beats a re-scored talk, so rankings stay consistent while a
        query costs ``latent_candidates * latent_components`` operations more
        whatever the corpus size. Talks sharing no term with the query keep
        score 0.
    random_state : int, RandomState instance or None, default 0
        Seed of the randomized SVD, so a model is reproducible.

    Attributes
    ----------
    corpus_ : scipy.sparse.csr_matrix of shape (n_documents, n_terms)
        The corpus' rows, scaled as ``corpus_norm`` says.
    inverted_index_ : scipy.sparse.csr_matrix of shape (n_terms, n_documents)
        ``corpus_.T`` in CSR: a query only touches the postings of its own
        terms, so its cost grows with their document frequency, not with the
        corpus size.
    n_features_in_ : int
        n_terms.
    latent_terms_ : ndarray of shape (n_terms, n_components), float16, or None
        The SVD's components, transposed: a TF-IDF vector times
        ``latent_terms_`` is its latent representation. None without
        ``latent_components``.
    latent_corpus_ : ndarray of shape (n_documents, n_components), float32, or None
        The corpus' latent representations, L2-normalised. The terms' are
        kept in half precision (3 significant digits are plenty for one
        ingredient of a blended score, at half the model file) and widened
        to float32 once, when the first query is ranked; the corpus' stay
        float32, as converting a query's 200 candidate rows would double the
        cost of the blend.
    labels_ : ndarray of shape (n_documents,) or None
        The ``y`` given to :meth:`fit` (e.g. each talk's track), which
        :meth:`score` uses as relevance: a talk is relevant to a query with
        the same label.
    """

    _parameter_constraints: dict = {
        "corpus_norm": [StrOptions({"l2", "max"})],
        "latent_components": [Interval(Integral, 0, None, closed="left")],
        "latent_weight": [Interval(Real, 0, 1, closed="both")],
        "latent_candidates": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        latent_components: int = 0,
        latent_weight: float = 0.5,
        latent_candidates: int = 200,
        random_state: int = 0,
        corpus_norm: str = "l2",
    ):
        self.corpus_norm = corpus_norm
        self.latent_components = latent_components
        self.latent_weight = latent_weight
        self.latent_candidates = latent_candidates
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Keep the corpus ``X`` of shape (n_documents, n_terms), scaled as
        ``corpus_norm`` says, and, when given, its labels ``y`` of shape (n_documents,)."""
        corpus = sp.csr_matrix(X, dtype=np.float64, copy=True)
        if y is not None and len(y) != corpus.shape[0]:
            raise ValueError(f"y has {len(y)} labels for {corpus.shape[0]} documents")
        if self.corpus_norm == "l2":
            corpus = directions = normalize(corpus, norm="l2", copy=False)
        else:
            # The latent space reads directions: it is fitted on the L2-normalised rows.
            directions = normalize(corpus, norm="l2", copy=True) if self.latent_components else None
            largest = float(np.sqrt(np.asarray(corpus.multiply(corpus).sum(axis=1))).max(initial=0.0))
            if largest > 0:
                corpus.data /= largest
        self._drop_caches()
        self.corpus_ = corpus
        self.inverted_index_ = corpus.T.tocsr()
        self.n_features_in_ = corpus.shape[1]
        self.labels_ = None if y is None else np.asarray(y, dtype=object)
        self.latent_terms_, self.latent_corpus_ = self._fit_latent(directions) if directions is not None else (None, None)
        return self

    def __setstate__(self, state):
        # A model file written before corpus_norm existed: its rows were L2-normalised.
        super().__setstate__({"corpus_norm": "l2", **state})

    def set_params(self, **params):
        # latent_weight and latent_candidates act at query time: the ranking
        # index, which holds them, is rebuilt with the new values.
        self._drop_caches()
        return super().set_params(**params)

    # -- ranking -----------------------------------------------------------

    def predict(self, X) -> np.ndarray:
        """Similarities, shape (n_queries, n_documents), each in [0, 1]."""
        check_is_fitted(self)
        return np.minimum(self._similarities(X).toarray(), 1.0)

    def top_k(self, X, k: int, mask: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query, its ``k`` most similar documents with a score > 0.

        Returns a list with one ``(indices, scores)`` pair per query, sorted by
        decreasing score (ties by increasing index): the same talks and scores
        as ranking a row of :meth:`predict`, without scoring the whole corpus.
        ``mask`` (bool, shape (n_documents,)) keeps only the talks it marks,
        before the best ``k`` are taken.

        Each query is ranked by :mod:`.ranking`: one call into a small C
        kernel that walks the postings of the query's terms on the inverted
        index, sums them per talk, re-scores the best candidates in the
        latent space and keeps the ``k`` best, so a query costs in proportion
        to its postings, not to the corpus (NumPy does the same steps when
        the kernel wasn't built).
        """
        rank = self._rank_one
        if not sp.issparse(X) or X.format != "csr":
            X = sp.csr_matrix(X)
        return [rank(X.indices[X.indptr[row]:X.indptr[row + 1]], X.data[X.indptr[row]:X.indptr[row + 1]], k, mask)
                for row in range(X.shape[0])]

    def transform_one(self, terms: np.ndarray, weights: np.ndarray, k: int,
                      mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top_k` of one query given as its sparse vector: its ``terms``
        (column indices, shape (n_query_terms,)) and their ``weights``.
        Returns ``(indices, scores)``, each of shape (at most k,)."""
        return self._rank_one(terms, weights, k, mask)

    @cached_property
    def _ranking_index(self) -> RankingIndex:
        check_is_fitted(self)
        return RankingIndex.build(self.inverted_index_, self.latent_terms_, self.latent_corpus_,
                                  self.latent_weight, self.latent_candidates)

    @cached_property
    def _rank_one(self):
        """``(terms, weights, k, mask) -> (indices, scores)`` on this corpus:
        the install's ranker (see :mod:`.ranking`) bound to its index."""
        index = self._ranking_index
        return partial(ranker_for(index), index)

    # -- explaining --------------------------------------------------------

    def lexical_share(self) -> float:
        """The part of each score the TF-IDF cosine makes: 1, or
        ``1 - latent_weight`` when a latent similarity is blended in."""
        return self._ranking_index.lexical_share

    def explain(self, terms: np.ndarray, weights: np.ndarray, documents: np.ndarray,
                n: int) -> list[list[tuple[int, float]]]:
        """Why each of ``documents`` matched the query ``terms``/``weights``:
        the ``n`` terms it shares with the query that add most to its score,
        as ``(term, share)`` pairs, heaviest first, ties by term.

        A term's share of a score is ``q[t] * d[t]`` (the query
        L2-normalised, the talk's row as ``corpus_`` keeps it) times :meth:`lexical_share`: a document's shares add
        up to the TF-IDF part of its score, which is the whole score unless a
        latent similarity is blended in. Terms contributing 0 are left out.

        Plain Python over a few dozen numbers: a NumPy call per step would
        cost more than the arithmetic.
        """
        weights = weights.tolist()
        norm = math.hypot(*weights)
        scale = self.lexical_share() / norm if norm > 0 else 0.0
        query = dict(zip(terms.tolist(), [weight * scale for weight in weights]))
        corpus = self.corpus_
        explanations = []
        for document in documents.tolist():
            start, end = corpus.indptr.item(document), corpus.indptr.item(document + 1)
            # (-share, term): heaviest first, ties by term.
            shared = sorted(
                (-query[term] * value, term)
                for term, value in zip(corpus.indices[start:end].tolist(), corpus.data[start:end].tolist())
                if term in query
            )
            explanations.append([(term, -share) for share, term in shared[:n] if share])
        return explanations

    # -- scoring -----------------------------------------------------------

    def score(self, X, y) -> float:
        """Mean precision@5 of the queries ``X`` (labels ``y``) against the
        fitted corpus: the share of each query's 5 best talks that have its
        label. The estimator must have been fitted with labels.

        This is what scikit-learn's model selection maximises by default
        (``GridSearchCV(build_pipeline(), ...)``: the pipeline transforms the
        test fold's talks and hands them here). Queries whose label no corpus
        talk has are left out (NaN if that is all of them).
        """
        return self.ranking_metrics(X, y, k=SCORE_K).means()[f"precision@{SCORE_K}"]

    def ranking_metrics(self, X, y, k: int = SCORE_K, exclude=None) -> RankingMetrics:
        """Per-query precision@k, reciprocal rank and nDCG@k (see :mod:`..quality.measures`).

        Parameters
        ----------
        X : query vectors, shape (n_queries, n_terms).
        y : n_queries labels; a corpus talk is relevant when its label is the query's.
        exclude : optional n_queries corpus indices, one per query, left out
            of that query's answer and relevant count: the query itself when
            the queries are corpus talks (leave-one-out).
        """
        check_is_fitted(self)
        if self.labels_ is None:
            raise ValueError("the estimator was fitted without labels: fit(X, y) to score against y")
        if len(y) != X.shape[0]:
            raise ValueError(f"y has {len(y)} labels for {X.shape[0]} queries")
        if exclude is None:
            rankings = [indices for indices, _ in self.top_k(X, RANKING_DEPTH)]
        else:
            answers = self.top_k(X, RANKING_DEPTH + 1)
            rankings = [indices[indices != itself][:RANKING_DEPTH]
                        for (indices, _), itself in zip(answers, np.asarray(exclude, dtype=np.intp))]
        return same_label_metrics(rankings, y, self.labels_, k, exclude, RANKING_DEPTH)

    # -- the straightforward path -----------------------------------------

    def _similarities(self, X) -> sp.csr_matrix:
        """All queries' scores as a sparse product (the straightforward path,
        for batches: evaluation, scoring, :meth:`predict`)."""
        queries = sp.csr_matrix(X, dtype=np.float64, copy=True)
        if queries.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {queries.shape[1]} terms, the fitted corpus has {self.n_features_in_}"
            )
        for row in range(queries.shape[0]):
            terms = slice(queries.indptr[row], queries.indptr[row + 1])
            queries.data[terms] = l2_normalized(queries.data[terms])
        similarities = queries @ self.inverted_index_
        similarities.sum_duplicates()  # also sorts each row's documents
        similarities = similarities.tocsr()
        if self.latent_corpus_ is not None:
            index = self._ranking_index
            for row in range(similarities.shape[0]):
                start, end = similarities.indptr[row], similarities.indptr[row + 1]
                terms = slice(queries.indptr[row], queries.indptr[row + 1])
                similarities.data[start:end] = blend(
                    index, queries.indices[terms], queries.data[terms],
                    similarities.indices[start:end], similarities.data[start:end])
        return similarities

    def _fit_latent(self, corpus: sp.csr_matrix):
        # TruncatedSVD needs fewer components than the smaller side of the matrix.
        n_components = min(self.latent_components, min(corpus.shape) - 1)
        if n_components < 1:
            return None, None
        from sklearn.decomposition import TruncatedSVD

        # A large corpus' latent space is learned from a sample of its talks:
        # the randomized SVD's float64 work matrices grow with the rows it sees.
        rng = np.random.default_rng(self.random_state)
        rows = np.arange(corpus.shape[0])
        if len(rows) > _LATENT_FIT_MAX_DOCUMENTS:
            rows = np.sort(rng.choice(rows, _LATENT_FIT_MAX_DOCUMENTS, replace=False))
        svd = TruncatedSVD(n_components=n_components, random_state=self.random_state).fit(corpus[rows])
        # (n_terms, n_components) in C order: a query's projection reads only its terms' rows.
        components = svd.components_.T
        latent_corpus = np.empty((corpus.shape[0], n_components), dtype=np.float32)
        for start in range(0, corpus.shape[0], _LATENT_FIT_MAX_DOCUMENTS):
            chunk = corpus[start:start + _LATENT_FIT_MAX_DOCUMENTS]
            latent_corpus[start:start + chunk.shape[0]] = normalize(chunk @ components)
        return np.ascontiguousarray(components, dtype=np.float16), latent_corpus
