"""``TrackClassifier``: which track a talk belongs to, from its TF-IDF vector.

A nearest-centroid classifier: each track is the L2-normalised sum of its
talks' L2-normalised rows, a query's score for a track the cosine of its row
to that centroid, and its probabilities a softmax of those cosines at a
temperature fitted on the corpus. Chosen over scikit-learn's
``LogisticRegression`` and ``SGDClassifier`` on the real corpus
(docs/quality.md, "Suggested tracks"): as accurate for the first suggestion,
better for the first three, fitted in milliseconds rather than seconds, and
indifferent to the TF-IDF's weighting (rows are normalised here, and the
temperature is fitted to whatever spread the cosines have).

A query is scored in one call into the ranking's C kernel
(``_ranking.top_classes``): a few microseconds.
"""

from __future__ import annotations

from functools import cached_property, partial
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import check_is_fitted

from .caching import DropsCachesWhenPickled
from .ranking import RankingIndex, compiled_kernel

#: The C kernel's query path, when it was built (and is recent enough to have it).
_top_classes = getattr(compiled_kernel(), "top_classes", None)

#: The temperature when the corpus can't tell one (fewer than two tracks with
#: two talks): about the one fitted on the real corpus (18-20).
DEFAULT_TEMPERATURE = 20.0
#: The fitted temperature lies in this range.
TEMPERATURE_RANGE = (0.1, 1000.0)
#: A row's label meaning "no track": left out of training.
NO_LABEL = ""


class TrackClassifier(DropsCachesWhenPickled, ClassifierMixin, BaseEstimator):
    """Nearest-centroid track classifier over TF-IDF rows.

    Parameters
    ----------
    temperature : float > 0 or "auto", default "auto"
        Probabilities are ``softmax(temperature * cosines)``. ``"auto"``:
        the temperature that minimises the leave-one-out log loss on the
        training rows (each row against centroids fitted without it).
    max_calibration_rows : int >= 1, default 20_000
        ``"auto"`` fits the temperature on at most this many rows (a random
        sample): training time and memory stay bounded on a large corpus.
    random_state : int, RandomState instance or None, default 0
        Seed of that sample.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,), object
        The labels seen in ``fit``, sorted; ``NO_LABEL`` rows are not a class.
        May be empty: a corpus without tracks still fits, and then predicts
        no track.
    class_counts_ : ndarray of shape (n_classes,), int
        Rows per class.
    centroids_ : scipy.sparse.csr_matrix of shape (n_classes, n_features), float32
        Each class' centroid, L2-normalised.
    temperature_ : float
        The temperature used.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "temperature": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "max_calibration_rows": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, temperature="auto", max_calibration_rows: int = 20_000, random_state=0):
        self.temperature = temperature
        self.max_calibration_rows = max_calibration_rows
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the centroids of ``X`` (n_rows, n_features), sparse or dense,
        labelled by ``y`` (n_rows,); rows labelled ``NO_LABEL`` (or None) are
        left out."""
        rows, labels = _labelled(X, y)
        self._drop_caches()
        self.classes_, positions, self.class_counts_ = np.unique(labels, return_inverse=True, return_counts=True)
        sums = _class_sums(rows, positions, len(self.classes_))
        self.centroids_ = _normalized(sums).astype(np.float32)
        self.n_features_in_ = rows.shape[1]
        self.temperature_ = (float(self.temperature) if self.temperature != "auto"
                             else self._fitted_temperature(rows, positions, sums))
        return self

    # -- many rows: scikit-learn's interface -------------------------------------

    def decision_function(self, X) -> np.ndarray:
        """Cosines of each row of ``X`` to each class centroid, shape (n_rows, n_classes)."""
        check_is_fitted(self)
        rows = _normalized(sp.csr_matrix(X, dtype=np.float64))
        return (rows @ self.centroids_.T.astype(np.float64)).toarray()

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of each class, shape (n_rows, n_classes); a row
        sharing no term with any centroid gets the same for each."""
        return softmax(self.temperature_ * self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """The most likely class of each row, shape (n_rows,); ``NO_LABEL``
        for a row sharing no term with any class, or when there is no class."""
        cosines = self.decision_function(X)
        if not len(self.classes_):
            return np.full(cosines.shape[0], NO_LABEL, dtype=object)
        best = cosines.argmax(axis=1)
        return np.where(cosines.max(axis=1) > 0, self.classes_[best], NO_LABEL)

    # -- one query: the service's path ------------------------------------------

    def top(self, terms: np.ndarray, weights: np.ndarray, n: int) -> tuple[list[int], list[float]]:
        """The ``n`` most likely classes of one query, given as its non-zero
        ``terms`` (column indices, int32) and their ``weights`` (float64):
        ``(positions in classes_, probabilities)``, most likely first (ties by
        position), the probabilities those of :meth:`predict_proba`. Only
        classes sharing a term with the query are given: none when it shares
        none. One call into the ranking's C kernel when it was built
        (``_ranking.top_classes``), else :meth:`top_numpy`."""
        return self._top(terms, weights, self.temperature_, n)

    def top_numpy(self, terms: np.ndarray, weights: np.ndarray, n: int) -> tuple[list[int], list[float]]:
        """:meth:`top`'s answer, through :meth:`predict_proba`."""
        row = sp.csr_matrix((weights, terms, [0, len(terms)]), shape=(1, self.n_features_in_))
        cosines = self.decision_function(row)[0]
        probabilities = softmax(self.temperature_ * cosines[None, :])[0]
        order = np.lexsort((np.arange(len(cosines)), -cosines))
        order = order[cosines[order] > 0][:n]
        return order.tolist(), probabilities[order].tolist()

    @cached_property
    def _top(self):
        """``(terms, weights, temperature, n) -> (classes, probabilities)``:
        the kernel's ``top_classes`` bound to the centroids as it reads them
        (term by term), once; or the NumPy path."""
        check_is_fitted(self)
        by_term = sp.csr_matrix(self.centroids_.T, dtype=np.float64)
        by_term.sort_indices()
        index = RankingIndex.build(by_term, None, None, 0.0, 1)
        if not len(self.classes_):
            return lambda terms, weights, temperature, n: ([], [])
        if _top_classes is None or not index.fits_kernel:
            return lambda terms, weights, temperature, n: self.top_numpy(terms, weights, n)
        return partial(_top_classes, index.indptr, index.indices, index.data, index.n_documents)

    # -- leave-one-out ----------------------------------------------------------

    def leave_one_out_cosines(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Each labelled row's cosines to the class centroids fitted without
        it, for ``X`` and ``y`` the very data :meth:`fit` was given:
        ``(cosines of shape (n_labelled, n_classes), own class positions)``,
        rows in ``X``'s order without the unlabelled ones. A row alone in its
        class has cosine 0 to its own (that class has nothing left)."""
        check_is_fitted(self)
        rows, labels = _labelled(X, y)
        positions = np.searchsorted(self.classes_, labels)
        sums = _class_sums(rows, positions, len(self.classes_))
        return _leave_one_out(_normalized(rows), positions, sums), positions

    def _fitted_temperature(self, rows: sp.csr_matrix, positions: np.ndarray, sums: sp.csr_matrix) -> float:
        # Rows whose class has another row (only those can be told apart
        # leave-one-out) and that share a term with some class.
        usable = np.flatnonzero(self.class_counts_[positions] > 1)
        if len(self.classes_) < 2 or not len(usable):
            return DEFAULT_TEMPERATURE
        if len(usable) > self.max_calibration_rows:
            usable = np.sort(check_random_state(self.random_state).choice(usable, self.max_calibration_rows,
                                                                          replace=False))
        cosines = _leave_one_out(_normalized(rows[usable]), positions[usable], sums)
        own = cosines[np.arange(len(usable)), positions[usable]]

        def log_loss(log_temperature: float) -> float:
            scaled = np.exp(log_temperature) * cosines
            top = scaled.max(axis=1)
            return float(np.mean(top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
                                 - np.exp(log_temperature) * own))

        low, high = np.log(TEMPERATURE_RANGE)
        return float(np.exp(minimize_scalar(log_loss, bounds=(low, high), method="bounded").x))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``scores`` (n_rows, n_columns)."""
    if not scores.shape[1]:
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _labelled(X, y) -> tuple[sp.csr_matrix, np.ndarray]:
    """The rows of ``X`` that have a label (``X`` itself, not a copy, when all
    have: a model's corpus may be millions of rows), and their labels."""
    rows = sp.csr_matrix(X, dtype=np.float64)
    labels = np.array(["" if label is None else str(label) for label in y], dtype=object)
    if len(labels) != rows.shape[0]:
        raise ValueError(f"y has {len(labels)} labels for {rows.shape[0]} rows")
    keep = labels != NO_LABEL
    return (rows, labels) if keep.all() else (rows[keep], labels[keep])


def _normalized(rows: sp.csr_matrix) -> sp.csr_matrix:
    """``rows`` L2-normalised (an empty row stays empty; so does a matrix of no rows)."""
    return normalize(rows, norm="l2") if rows.shape[0] else sp.csr_matrix(rows)


def _class_sums(rows: sp.csr_matrix, positions: np.ndarray, n_classes: int) -> sp.csr_matrix:
    """(n_classes, n_features): row c sums the L2-normalised rows of class c
    (each row weighted by its inverse norm: no normalised copy of ``rows``)."""
    norms = row_norms(rows)
    weights = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix((weights, (positions, np.arange(len(positions)))), shape=(n_classes, len(positions))) @ rows


def _leave_one_out(rows: sp.csr_matrix, positions: np.ndarray, sums: sp.csr_matrix) -> np.ndarray:
    """Cosines of ``rows`` (L2-normalised, of classes ``positions``) to the
    centroids of the class ``sums`` without each row's own contribution."""
    norms = np.sqrt(np.asarray(sums.multiply(sums).sum(axis=1)).ravel())
    dots = (rows @ sums.T).toarray()  # row . sum of each class
    cosines = dots / np.where(norms > 0, norms, 1.0)
    own_dot = dots[np.arange(len(positions)), positions]
    self_dot = np.asarray(rows.multiply(rows).sum(axis=1)).ravel()  # 1, or 0 for an empty row
    # |sum - row|^2 = |sum|^2 - 2 row.sum + |row|^2
    remaining = np.sqrt(np.maximum(norms[positions] ** 2 - 2 * own_dot + self_dot, 0.0))
    # row . (sum - row); what is left of a row sharing no term with the others is rounding.
    shared = own_dot - self_dot
    shared[np.abs(shared) < 1e-12] = 0.0
    alone = remaining < 1e-9
    cosines[np.arange(len(positions)), positions] = np.where(alone, 0.0, shared / np.where(alone, 1.0, remaining))
    return cosines
