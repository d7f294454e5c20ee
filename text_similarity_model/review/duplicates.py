"""Which submissions of one batch are the same talk (sent to two tracks, or by
two co-speakers), by the very rule of ``same_talk``
(:meth:`.RepeatDetector.same_talk`) on the cosines of their titles and of
their descriptions, without comparing every pair."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..steps.same_talk import RepeatDetector

#: Cells of one block of the within-batch product (a block of rows against
#: every later submission): bounds its memory whatever the batch size.
BLOCK_CELLS = 1 << 22


def same_talk_pairs(titles: sp.csr_matrix, descriptions: sp.csr_matrix, detector: RepeatDetector,
                    block_cells: int = BLOCK_CELLS) -> sp.csr_matrix:
    """Which rows of a batch are the same talk: ``detector.same_talk``
    (:meth:`.RepeatDetector.same_talk`, the rule) on the cosines of the titles
    and of the descriptions of every pair of rows of ``titles`` and
    ``descriptions`` (each shape (n, n_terms), rows L2-normalised), as a
    symmetric boolean CSR of shape (n, n) without its diagonal.

    Every pair the rule flags has a titles' cosine of at least one floor or
    a descriptions' of at least the other (:meth:`.RepeatDetector.floors`),
    so each field only looks for pairs above its floor, by prefix filtering
    (as all-pairs similarity search does): a row's most common terms whose
    weights' norm stays below the floor are left out of the index, since a
    pair sharing no other term can't reach it; the index is most talks' few
    rarest terms. The candidates come from a sparse product, a block of rows
    against every row at a time (about ``block_cells`` cells each, of which
    each pair is kept once), and get their exact cosines before the rule is
    applied: the same pairs as the rule on every pair, without the
    product of 100,000 descriptions by each other."""
    count = titles.shape[0]
    indexes = [_prefix_filtered(matrix, floor) for matrix, floor in zip((titles, descriptions), detector.floors())]
    firsts, others = [], []
    block = max(1, block_cells // max(count, 1))
    for start in range(0, count, block):
        end = min(start + block, count)
        candidates = np.concatenate([_candidates(matrix[start:end], *index, start)
                                     for matrix, index in zip((titles, descriptions), indexes)])
        candidates.sort()  # a sort and a comparison: several times faster here than np.unique's hashing
        distinct = np.ones(len(candidates), dtype=bool)
        distinct[1:] = candidates[1:] != candidates[:-1]
        candidates = candidates[distinct]
        first, other = candidates // count + start, candidates % count
        flags = np.asarray(detector.same_talk(_row_dots(titles, first, other), _row_dots(descriptions, first, other)),
                           dtype=bool)
        firsts.append(first[flags])
        others.append(other[flags])
    first = np.concatenate(firsts) if firsts else np.empty(0, dtype=np.int64)
    other = np.concatenate(others) if others else np.empty(0, dtype=np.int64)
    pairs = sp.coo_matrix((np.ones(2 * len(first), dtype=bool),
                           (np.concatenate([first, other]), np.concatenate([other, first]))), shape=(count, count))
    return pairs.tocsr()


def _prefix_filtered(matrix: sp.csr_matrix, floor: float) -> tuple[sp.csr_matrix, np.ndarray, float]:
    """``(indexed, prefix_norms, floor)``: ``matrix`` without each row's
    prefix, its most common terms (in the batch) whose weights' norm stays
    below ``floor``, transposed (shape (n_terms, n_rows)), and the norm of
    each row's prefix. A row ``x`` and a row
    ``y`` sharing no term of ``y``'s indexed part have ``x . y <= |y's
    prefix| < floor``."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    frequency = np.bincount(matrix.indices, minlength=matrix.shape[1])
    rank = np.empty(matrix.shape[1], dtype=np.int64)
    rank[np.argsort(-frequency, kind="stable")] = np.arange(matrix.shape[1])
    order = np.lexsort((rank[matrix.indices], rows))  # each row's terms, most common first
    squares = matrix.data[order].astype(np.float64) ** 2
    cumulative = np.cumsum(squares)
    before_row = np.concatenate([[0.0], cumulative])[matrix.indptr[:-1]]
    # A margin below the floor: rounding must never leave a pair out.
    margin = 1e-6
    in_prefix = cumulative - before_row[rows] < max(floor - margin, 0.0) ** 2
    prefix_norms = np.sqrt(np.bincount(rows, weights=squares * in_prefix, minlength=matrix.shape[0]))
    kept = order[~in_prefix]
    # Transposed once (terms by rows): each block's product then reads it as it is.
    indexed = sp.csr_matrix((matrix.data[kept], (matrix.indices[kept], rows[kept])), shape=matrix.shape[::-1])
    return indexed, prefix_norms, floor - margin


def _candidates(block: sp.csr_matrix, indexed: sp.csr_matrix, prefix_norms: np.ndarray, floor: float,
                start: int) -> np.ndarray:
    """The pairs (row of ``block``, a later row of the batch; the block
    starts at row ``start``) whose cosine may reach ``floor``, as keys
    ``row * n_rows + other``: those sharing an indexed term (``indexed``:
    terms by rows), with their shared part plus the prefix's norm at the
    floor or more."""
    partial = (block @ indexed).tocoo()
    possible = (partial.data + prefix_norms[partial.col] >= floor) & (partial.col > partial.row + start)
    return partial.row[possible].astype(np.int64) * indexed.shape[1] + partial.col[possible]


def _row_dots(matrix: sp.csr_matrix, first: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The dot product of rows ``first[k]`` and ``other[k]`` of ``matrix``, for each k."""
    if not len(first):
        return np.zeros(0)
    return np.asarray(matrix[first].multiply(matrix[other]).sum(axis=1), dtype=np.float64).ravel()


