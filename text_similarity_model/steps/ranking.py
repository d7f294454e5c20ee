"""The ranking of one query against a fitted corpus: the service's hot path.

:class:`RankingIndex` holds what ranking needs (the inverted index, the
latent space, the blend's parameters) as one structure. Two rankers take it
with one signature, ``(index, terms, weights, k, mask) -> (documents, scores)``:

- :func:`rank_compiled`: one call into a small C kernel (``_ranking.c``),
  built by ``pip install`` when a C compiler is there;
- :func:`rank_numpy`: the same steps in NumPy, with the same answers
  (``tests/test_ranking_kernel.py`` holds the two to each other on every talk
  of the real corpus). Slower, but without a scipy sparse product's
  per-call conversions nor a sort of the whole corpus: it keeps installs
  without a compiler fast.

The backend is chosen once, at import (:data:`RANKER`); an index too large
for the kernel's 32-bit offsets is ranked with NumPy (:func:`ranker_for`).

The kernel also does the work only the returned talks need, per returned
talk: why each matched (:func:`explain_compiled`) and the same-talk
detector's field cosines (:func:`row_dots_compiled`); without it, the plain
Python twins answer (``CosineSimilaritiesEstimator.explain``,
``RepeatDetector.same_talks``), held equal by tests/test_answer_kernels.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp

from .text import l2_normalized

try:  # the ranking hot loop in C, built by setup.py when a C compiler is there
    from . import _ranking
except ImportError:  # pragma: no cover - depends on the install
    _ranking = None


@dataclass(frozen=True, slots=True)
class RankingIndex:
    """A fitted corpus as the rankers read it.

    Attributes
    ----------
    indptr, indices, data : the inverted index (n_terms x n_documents, CSR):
        the postings of term ``t`` are ``indices[indptr[t]:indptr[t + 1]]``
        (documents, ascending) with their L2-normalised TF-IDF ``data``.
    n_documents : int
    positive_index : bool
        Every posting is positive (TF-IDF always is): lets the kernel skip
        the checks negative contributions would need.
    latent_terms : ndarray (n_terms, n_components), float32, or None
        The latent space's term vectors, widened once from the model file's
        float16 (a few MB, shared by gunicorn's workers).
    latent_corpus : ndarray (n_documents, n_components), float32, or None
    latent_weight : float
        A re-scored talk's score is ``(1 - latent_weight) * cosine +
        latent_weight * max(latent cosine, 0)``; the others' is scaled by
        ``1 - latent_weight``.
    latent_candidates : int
        How many of a query's best TF-IDF matches are re-scored.
    fits_kernel : bool
        The arrays have the types the C kernel takes: int32 offsets (false
        past 2**31 postings, where scipy switches to int64) and float64 data.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_documents: int
    positive_index: bool
    latent_terms: np.ndarray | None
    latent_corpus: np.ndarray | None
    latent_weight: float
    latent_candidates: int
    fits_kernel: bool

    @classmethod
    def build(cls, inverted_index: sp.csr_matrix, latent_terms: np.ndarray | None,
              latent_corpus: np.ndarray | None, latent_weight: float, latent_candidates: int) -> "RankingIndex":
        latent = latent_corpus is not None
        return cls(
            indptr=inverted_index.indptr,
            indices=inverted_index.indices,
            data=inverted_index.data,
            n_documents=inverted_index.shape[1],
            positive_index=bool((inverted_index.data > 0).all()),
            latent_terms=latent_terms.astype(np.float32) if latent else None,
            latent_corpus=latent_corpus if latent else None,
            latent_weight=float(latent_weight),
            latent_candidates=int(latent_candidates),
            fits_kernel=(inverted_index.indptr.dtype == np.int32 and inverted_index.indices.dtype == np.int32
                         and inverted_index.data.dtype == np.float64),
        )

    @property
    def lexical_share(self) -> float:
        """The part of a score the TF-IDF cosine makes: 1, or ``1 - latent_weight``
        when a latent similarity is blended in."""
        return 1.0 if self.latent_corpus is None else 1.0 - self.latent_weight


#: ``(index, terms, weights, k, mask) -> (documents, scores)``
Ranker = Callable[[RankingIndex, np.ndarray, np.ndarray, int, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


def rank_compiled(index: RankingIndex, terms: np.ndarray, weights: np.ndarray, k: int,
                  mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(documents, scores)`` with a score > 0 of the query
    ``terms`` (column indices) / ``weights``, by decreasing score, ties by
    document; ``mask`` (bool, n_documents) keeps only the talks it marks.
    One call into the C kernel; ``index.fits_kernel`` must hold."""
    documents, scores = np.empty(k, dtype=np.int64), np.empty(k)
    if mask is not None:
        mask = np.ascontiguousarray(mask, dtype=bool)
    written = _ranking.rank(
        index.indptr, index.indices, index.data, index.n_documents, index.positive_index,
        np.ascontiguousarray(terms, dtype=np.int32), np.ascontiguousarray(weights, dtype=np.float64),
        index.latent_terms, index.latent_corpus, index.latent_weight, index.latent_candidates,
        mask, documents, scores)
    return documents[:written].astype(np.intp, copy=False), scores[:written]


def rank_numpy(index: RankingIndex, terms: np.ndarray, weights: np.ndarray, k: int,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rank_compiled`'s answer, computed with NumPy."""
    weights = l2_normalized(np.asarray(weights, dtype=np.float64))
    documents, scores = query_scores(index, np.asarray(terms), weights)
    if mask is not None:
        keep = mask[documents]
        documents, scores = documents[keep], scores[keep]
    return best(documents, scores, k)


#: The ranker of this install: the compiled kernel when it was built.
RANKER: Ranker = rank_numpy if _ranking is None else rank_compiled


def ranking_backend() -> str:
    """``"compiled"`` when the C ranking kernel was built, else ``"numpy"``
    (the same answers, slower: see benchmarks/README.md)."""
    return "numpy" if RANKER is rank_numpy else "compiled"


def compiled_kernel():
    """The compiled kernel's module (``_ranking``), None when it was not built."""
    return _ranking


def ranker_for(index: RankingIndex) -> Ranker:
    """:data:`RANKER`, unless ``index`` is too large for the kernel: NumPy then."""
    return RANKER if index.fits_kernel else rank_numpy


def query_scores(index: RankingIndex, terms: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(documents, scores)`` of every talk sharing a term with one query
    (``terms`` and their L2-normalised ``weights``), documents ascending.
    The NumPy twin of the C kernel's steps 1 and 2 (``_ranking.c``)."""
    starts = index.indptr[terms]
    lengths = index.indptr[terms + 1] - starts
    total = int(lengths.sum())
    if total == 0 or not weights.any():
        return np.empty(0, dtype=np.intp), np.empty(0)
    # Positions of all the query terms' postings in the index, term by term.
    positions = np.arange(total) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    contributions = index.data[positions] * np.repeat(weights, lengths)
    # Summed per talk in term order, as a sparse product would.
    dense = np.bincount(index.indices[positions], weights=contributions, minlength=index.n_documents)
    documents = np.flatnonzero(dense)
    scores = dense[documents]
    if index.latent_corpus is not None:
        scores = blend(index, terms, weights, documents, scores)
    return documents, np.minimum(scores, 1.0)


def blend(index: RankingIndex, terms: np.ndarray, weights: np.ndarray, documents: np.ndarray,
          scores: np.ndarray) -> np.ndarray:
    """One query's blended scores: its ``latent_candidates`` best TF-IDF
    matches re-scored with the latent cosine, the others scaled down.

    ``terms``/``weights``: the query's L2-normalised TF-IDF vector;
    ``documents``/``scores``: its TF-IDF matches (documents ascending).
    """
    weight = index.latent_weight
    candidates = best_positions(scores, max(index.latent_candidates, 1))
    # In double precision from the stored float32 rows, as the C kernel does.
    latent_query = weights @ index.latent_terms[terms].astype(np.float64)
    norm = np.sqrt(np.dot(latent_query, latent_query))
    if norm > 0:
        latent_query /= norm
    latent = index.latent_corpus[documents[candidates]].astype(np.float64) @ latent_query
    blended = scores * (1.0 - weight)
    blended[candidates] += weight * np.maximum(latent, 0.0)
    return blended


def best_positions(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best ``scores``, ties by lower position (the
    documents being ascending, by lower document): the C kernel's choice."""
    if n >= len(scores):
        return np.arange(len(scores))
    nth_best = np.partition(scores, len(scores) - n)[len(scores) - n]
    above = np.flatnonzero(scores > nth_best)
    tied = np.flatnonzero(scores == nth_best)[:n - len(above)]
    return np.concatenate((above, tied))


def best(documents: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(documents, scores)``, by decreasing score then increasing document."""
    if k < len(scores):
        kth_best = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth_best  # all talks tied with the k-th, cut by index below
        documents, scores = documents[keep], scores[keep]
    order = np.lexsort((documents, -scores))[:k]
    return documents[order].astype(np.intp), scores[order]


def takes_rows(matrix: sp.csr_matrix, data_dtype) -> bool:
    """The compiled kernel was built and takes ``matrix``'s rows as they are
    (int32 offsets and columns, ``data_dtype`` values): :func:`explain_compiled`
    and :func:`row_dots_compiled` may be called on it."""
    return (_ranking is not None and matrix.indptr.dtype == np.int32 and matrix.indices.dtype == np.int32
            and matrix.data.dtype == data_dtype)


def explain_compiled(matrix: sp.csr_matrix, terms: np.ndarray, weights: np.ndarray, scale: float,
                     documents: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
    """Per row of ``documents`` (a float64 CSR ``matrix`` :func:`takes_rows`), its
    ``n`` heaviest terms shared with the query ``terms``, each weighing
    ``weight * scale``, as ``(term, weight * scale * value)`` pairs, heaviest
    first, ties by term, zeros left out: ``CosineSimilaritiesEstimator.explain``'s
    answer, in one call whatever the number of documents."""
    return _ranking.explain(matrix.indptr, matrix.indices, matrix.data, matrix.shape[1],
                            np.ascontiguousarray(documents, dtype=np.int64),
                            np.ascontiguousarray(terms, dtype=np.int32),
                            np.ascontiguousarray(weights, dtype=np.float64), scale, n)


def row_dots_compiled(matrix: sp.csr_matrix, query: dict[int, float], documents: np.ndarray) -> np.ndarray:
    """The dot products of ``query`` (``{term: weight}``) with the rows
    ``documents`` of a float32 CSR ``matrix`` :func:`takes_rows`, in double
    precision, shape (len(documents),)."""
    out = np.empty(len(documents))
    _ranking.row_dots(matrix.indptr, matrix.indices, matrix.data, matrix.shape[1],
                      np.ascontiguousarray(documents, dtype=np.int64), query, out)
    return out
