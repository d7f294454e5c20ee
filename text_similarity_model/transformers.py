"""The scikit-learn steps of the related-talks pipeline.

``LemmatizationTransformer`` turns raw Portuguese text into lemma lists and
``CosineSimilaritiesEstimator`` ranks a fitted corpus against queries. Both
follow scikit-learn's conventions (parameters only stored in ``__init__``,
learned state in ``_`` attributes) so ``clone``, ``get_params``/``set_params``
and model selection work on them.
"""

from __future__ import annotations

import unicodedata
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

from . import metrics
from .metrics import RANKING_DEPTH, RankingMetrics

#: Value of ``spacy_model`` meaning "spaCy's blank Portuguese language with
#: the lookup lemmatizer": works offline, nothing to download.
BLANK_PORTUGUESE = "blank:pt"

#: Values of ``LemmatizationTransformer(output=...)``.
OUTPUTS = ("lemmas", "text")

#: The k of ``CosineSimilaritiesEstimator.score``: precision of the 5 best talks.
SCORE_K = 5

# The latent space is fitted on at most this many talks (a random sample),
# and the corpus projected on it in chunks of this size: bounded memory.
_LATENT_FIT_MAX_DOCUMENTS = 100_000

# Documents above this count show a progress bar while lemmatizing (when
# ``progress=True``): below it the bar would flash by.
_PROGRESS_MIN_DOCUMENTS = 2000


class SpacyModelNotFound(ValueError):
    """The spaCy pipeline named in ``spacy_model`` is not installed."""


def load_portuguese_lemma_lookup() -> dict[str, str]:
    """Return spaCy's Portuguese lookup table (form -> lemma) as plain strings.

    These are the very tables spaCy's ``Lemmatizer(mode="lookup")`` uses for
    ``spacy.blank("pt")``; read directly from ``spacy-lookups-data`` because
    spaCy's own ``Table`` keys them by hash, which loses the forms we need to
    keep a vocabulary-restricted copy, and takes ~2 s to build.
    """
    try:
        import spacy_lookups_data
        import srsly
    except ImportError as error:  # pragma: no cover - a broken install
        raise SpacyModelNotFound(
            "spacy-lookups-data is not installed; run: pip install spacy-lookups-data"
        ) from error
    return srsly.read_gzip_json(spacy_lookups_data.get_file("pt_lemma_lookup.json.gz"))


def fold_accents(text: str) -> str:
    """``"aprendizagem de máquina"`` -> ``"aprendizagem de maquina"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def without_lone_surrogates(text: str) -> str:
    """Lone surrogates (valid in a Python str, e.g. from JSON ``"\\ud800"``, but
    not encodable as UTF-8 and fatal to spaCy's string store) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if 0xD800 <= ord(char) <= 0xDFFF else char for char in text)
    return text


def _split_document(document) -> tuple[str, str]:
    """A document is a string, or a ``(title, description)`` pair."""
    if isinstance(document, str):
        return "", document
    title, description = document
    return ("" if title is None else str(title)), ("" if description is None else str(description))


def _as_documents(X) -> list:
    """Accept a list/array of strings or pairs, or a DataFrame with title/description."""
    columns = getattr(X, "columns", None)
    if columns is not None:
        return list(zip(X["title"].tolist(), X["description"].tolist()))
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return [tuple(row) for row in X.tolist()]
    if isinstance(X, str):
        raise TypeError("X must be a list of documents, not a single string; wrap it: [text]")
    return list(X)


def passthrough(tokens):
    """Tokenizer for ``TfidfVectorizer`` fed with already-tokenized lemma lists.

    A module-level function (not a lambda) so fitted pipelines pickle.
    """
    return tokens


class LemmatizationTransformer(TransformerMixin, BaseEstimator):
    """Lowercase, tokenize and lemmatize Portuguese text with spaCy.

    Stop words, punctuation, numbers and whitespace tokens are dropped.

    Parameters
    ----------
    spacy_model : str, default "blank:pt"
        ``"blank:pt"``: ``spacy.blank("pt")`` with spaCy's lookup lemmas from
        the ``spacy-lookups-data`` package (offline, nothing downloaded).
        Any other value is the name of an installed spaCy pipeline (e.g.
        ``"pt_core_news_sm"``) whose own lemmatizer is then used.
    lemmatize : bool, default True
        False keeps the lowercase word forms (still dropping stop words etc.).
    strip_accents : bool, default False
        Fold accents after lemmatization (``"máquina"`` -> ``"maquina"``), so
        texts typed without accents still match.
    title_weight : int, default 1
        For ``(title, description)`` documents, how many times the title's
        lemmas count.
    n_process : int, default 1
        Processes for lemmatizing the corpus in ``fit`` (spaCy's
        ``nlp.pipe(n_process=...)``); queries always run in-process.
    batch_size : int, default 256
        Documents per batch handed to spaCy.
    progress : bool, default False
        Show a progress bar while lemmatizing large inputs.
    output : {"lemmas", "text"}, default "lemmas"
        ``"lemmas"``: each document becomes its list of lemmas (for a
        vectorizer with a pass-through tokenizer). ``"text"``: the lemmas
        joined by spaces, for a vectorizer that tokenizes again, as the
        original design fed ``TfidfVectorizer()``.

    Attributes
    ----------
    lemma_lookup_ : dict[str, str]
        Blank pipeline only: spaCy's lookup table restricted to the forms whose
        lemma (or which themselves) occur in the fitted corpus. Any other form
        can't reach the TF-IDF vocabulary, so results are identical to using
        the whole 825k-entry table, at a fraction of its size and load time.
    n_features_in_ : int
        Always 1 (one text per document), set for scikit-learn's checks.
    """

    def __init__(
        self,
        spacy_model: str = BLANK_PORTUGUESE,
        lemmatize: bool = True,
        strip_accents: bool = False,
        title_weight: int = 1,
        n_process: int = 1,
        batch_size: int = 256,
        progress: bool = False,
        output: str = "lemmas",
    ):
        self.spacy_model = spacy_model
        self.lemmatize = lemmatize
        self.strip_accents = strip_accents
        self.title_weight = title_weight
        self.n_process = n_process
        self.batch_size = batch_size
        self.progress = progress
        self.output = output

    # -- scikit-learn API -------------------------------------------------

    def fit(self, X, y=None):
        """Learn the lemma table restricted to the corpus. Returns ``self``."""
        self._fit_transform(X)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit and return the lemma lists of ``X`` in one pass over the corpus."""
        return self._fit_transform(X)

    def transform(self, X) -> list[list[str]]:
        """Lemmatize documents.

        Parameters
        ----------
        X : sequence of n_documents strings or ``(title, description)`` pairs,
            or a DataFrame with ``title`` and ``description`` columns.

        Returns
        -------
        list of n_documents lists of str: the kept lemmas, in text order
        (with ``output="text"``: n_documents str, those lemmas joined by spaces).
        """
        check_is_fitted(self)
        documents = _as_documents(X)
        if self._uses_blank_pipeline():
            lemmatize_text = self._lemmatize_with_lookup
        else:
            lemmatize_text = self._lemmatize_with_pipeline
        return [self._weighted_lemmas(doc, lemmatize_text) for doc in documents]

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "n_features_in_")

    # -- fitting ----------------------------------------------------------

    def _fit_transform(self, X) -> list[list[str]]:
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        documents = _as_documents(X)
        nlp = self._nlp()
        full_lookup = None
        if self._uses_blank_pipeline():
            # Without lemmatization an empty table maps every form to itself.
            full_lookup = load_portuguese_lemma_lookup() if self.lemmatize else {}
        texts = [part for doc in documents for part in _split_document(doc)]
        token_lists = self._tokenize_corpus(nlp, texts, full_lookup)

        if full_lookup is not None:
            corpus_lemmas = {lemma for tokens in token_lists for lemma in tokens}
            self.lemma_lookup_ = {
                form: lemma
                for form, lemma in full_lookup.items()
                if lemma in corpus_lemmas or form in corpus_lemmas
            }
        self.n_features_in_ = 1

        lemma_lists = []
        for title_tokens, description_tokens in zip(token_lists[0::2], token_lists[1::2]):
            lemma_lists.append(self._combine(title_tokens, description_tokens))
        return lemma_lists

    def _tokenize_corpus(self, nlp, texts, full_lookup) -> list[list[str]]:
        """Raw (accent-preserving) lemma lists for every text of the corpus."""
        lowered = (_prepare(text) for text in texts)
        if full_lookup is not None:
            # Only the tokenizer is needed: lemmas come from the lookup table.
            docs = nlp.tokenizer.pipe(lowered, batch_size=self.batch_size)
            kept = lambda doc: [  # noqa: E731
                full_lookup.get(token.text, token.text) for token in doc if _is_content(token)
            ]
        else:
            docs = nlp.pipe(lowered, batch_size=self.batch_size, n_process=self.n_process)
            kept = lambda doc: [self._pipeline_lemma(token) for token in doc if _is_content(token)]  # noqa: E731
        if self.progress and len(texts) >= _PROGRESS_MIN_DOCUMENTS:
            from tqdm.auto import tqdm

            docs = tqdm(docs, total=len(texts), desc="lemmatizing", unit="text")
        return [kept(doc) for doc in docs]

    # -- transforming -----------------------------------------------------

    def _weighted_lemmas(self, document, lemmatize_text) -> list[str]:
        title, description = _split_document(document)
        return self._combine(lemmatize_text(title), lemmatize_text(description))

    def _combine(self, title_lemmas: list[str], description_lemmas: list[str]) -> list[str] | str:
        lemmas = title_lemmas * self.title_weight + description_lemmas
        if self.strip_accents:
            lemmas = [fold_accents(lemma) for lemma in lemmas]
        return " ".join(lemmas) if self.output == "text" else lemmas

    def _lemmatize_with_lookup(self, text: str) -> list[str]:
        if not text:
            return []
        lookup = self.lemma_lookup_
        return [
            lookup.get(token.text, token.text)
            for token in self._nlp().tokenizer(_prepare(text))
            if _is_content(token)
        ]

    def _lemmatize_with_pipeline(self, text: str) -> list[str]:
        if not text:
            return []
        return [self._pipeline_lemma(token) for token in self._nlp()(_prepare(text)) if _is_content(token)]

    def _pipeline_lemma(self, token) -> str:
        return token.lemma_ if self.lemmatize else token.text

    # -- spaCy ------------------------------------------------------------

    def _uses_blank_pipeline(self) -> bool:
        return self.spacy_model == BLANK_PORTUGUESE

    def _nlp(self):
        """The spaCy ``Language``, created on first use and never pickled."""
        nlp = self.__dict__.get("_nlp_cache")
        if nlp is None:
            nlp = _load_spacy(self.spacy_model)
            self.__dict__["_nlp_cache"] = nlp
        return nlp

    def __getstate__(self):
        # The spaCy object is rebuilt on demand: pickling it would drag its
        # vocab and tables into every artifact.
        state = self.__dict__.copy()
        state.pop("_nlp_cache", None)
        return state


def _prepare(text: str) -> str:
    return without_lone_surrogates(text.lower())


def _is_content(token) -> bool:
    return not (token.is_stop or token.is_punct or token.like_num or token.is_space)


def _load_spacy(name: str):
    import spacy

    if name == BLANK_PORTUGUESE:
        return spacy.blank("pt")
    try:
        return spacy.load(name, exclude=["ner", "parser"])
    except OSError as error:
        raise SpacyModelNotFound(
            f"spaCy pipeline {name!r} is not installed. Install it "
            f"(python -m spacy download {name}) or use spacy_model={BLANK_PORTUGUESE!r}, "
            "which works offline with spacy-lookups-data."
        ) from error


class CosineSimilaritiesEstimator(BaseEstimator):
    """Cosine similarity of queries to a fitted corpus of TF-IDF vectors,
    optionally blended with a latent-semantic (LSA) similarity.

    Parameters
    ----------
    latent_components : int, default 0
        0: the score is the TF-IDF cosine, a purely sparse computation.
        Otherwise the number of :class:`~sklearn.decomposition.TruncatedSVD`
        components of a latent-semantic space fitted on the corpus, where
        talks about the same subject in different words come close.
    latent_weight : float, default 0.5
        With ``latent_components``: a re-scored talk's score is
        ``(1 - latent_weight) * cosine + latent_weight * max(latent cosine, 0)``.
    latent_candidates : int, default 200
        With ``latent_components``: how many of a query's best TF-IDF matches
        are re-scored. The others keep ``(1 - latent_weight) * cosine``, which
        never beats a re-scored talk, so rankings stay consistent while a
        query costs ``latent_candidates * latent_components`` operations more
        whatever the corpus size. Talks sharing no term with the query keep
        score 0.
    random_state : int, default 0
        Seed of the randomized SVD, so a model is reproducible.

    Attributes
    ----------
    corpus_ : scipy.sparse.csr_matrix of shape (n_documents, n_terms)
        The corpus' rows, L2-normalised.
    inverted_index_ : scipy.sparse.csr_matrix of shape (n_terms, n_documents)
        ``corpus_.T`` in CSR: a query only touches the postings of its own
        terms, so its cost grows with their document frequency, not with the
        corpus size.
    latent_terms_ : ndarray of shape (n_terms, n_components), float16, or None
        The SVD's components, transposed: a TF-IDF vector times
        ``latent_terms_`` is its latent representation. None without
        ``latent_components``.
    latent_corpus_ : ndarray of shape (n_documents, n_components), float16, or None
        The corpus' latent representations, L2-normalised. Both are kept in
        half precision (3 significant digits are plenty for one ingredient of
        a blended score; it halves their share of the model file) and only
        the rows a query touches are converted to float32.
    labels_ : ndarray of shape (n_documents,) or None
        The ``y`` given to :meth:`fit` (e.g. each talk's track), which
        :meth:`score` uses as relevance: a talk is relevant to a query with
        the same label.
    """

    def __init__(
        self,
        latent_components: int = 0,
        latent_weight: float = 0.5,
        latent_candidates: int = 200,
        random_state: int = 0,
    ):
        self.latent_components = latent_components
        self.latent_weight = latent_weight
        self.latent_candidates = latent_candidates
        self.random_state = random_state

    def fit(self, X, y=None):
        """Keep the L2-normalised corpus ``X`` of shape (n_documents, n_terms)
        and, when given, its labels ``y`` of shape (n_documents,)."""
        corpus = normalize(sp.csr_matrix(X, dtype=np.float64), norm="l2", copy=True)
        if y is not None and len(y) != corpus.shape[0]:
            raise ValueError(f"y has {len(y)} labels for {corpus.shape[0]} documents")
        self.corpus_ = corpus
        self.inverted_index_ = corpus.T.tocsr()
        self.n_features_in_ = corpus.shape[1]
        self.labels_ = None if y is None else np.asarray(y, dtype=object)
        self.latent_terms_, self.latent_corpus_ = self._fit_latent(corpus)
        return self

    def predict(self, X) -> np.ndarray:
        """Similarities, shape (n_queries, n_documents), each in [0, 1]."""
        check_is_fitted(self)
        return np.minimum(self._similarities(X).toarray(), 1.0)

    def top_k(self, X, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query, its ``k`` most similar documents with a score > 0.

        Returns a list with one ``(indices, scores)`` pair per query, sorted by
        decreasing score (ties by increasing index). Only the non-zero scores
        are partitioned (``argpartition``); the corpus is never fully sorted.
        """
        check_is_fitted(self)
        similarities = self._similarities(X)
        results = []
        for row in range(similarities.shape[0]):
            start, end = similarities.indptr[row], similarities.indptr[row + 1]
            indices = similarities.indices[start:end]
            scores = similarities.data[start:end]
            positive = scores > 0
            indices, scores = indices[positive], np.minimum(scores[positive], 1.0)
            if k < len(scores):
                best = np.argpartition(-scores, k - 1)[:k]
                # Scores tied with the k-th are kept or not by index order.
                threshold = scores[best].min()
                best = np.flatnonzero(scores >= threshold)
                indices, scores = indices[best], scores[best]
            order = np.lexsort((indices, -scores))[:k]
            results.append((indices[order].astype(np.intp), scores[order]))
        return results

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
        """Per-query precision@k, reciprocal rank and nDCG@k (see :mod:`.metrics`).

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
        # Compared as strings: labels read from a CSV or given as numbers alike.
        labels, y = self.labels_.astype(str), np.asarray(y, dtype=object).astype(str)
        values, counts = np.unique(labels, return_counts=True)
        label_counts = dict(zip(values.tolist(), counts.tolist()))
        n_relevant = np.array([label_counts.get(label, 0) for label in y], dtype=np.int64)
        if exclude is None:
            rankings = [indices for indices, _ in self.top_k(X, RANKING_DEPTH)]
        else:
            exclude = np.asarray(exclude, dtype=np.intp)
            answers = self.top_k(X, RANKING_DEPTH + 1)
            rankings = [indices[indices != itself][:RANKING_DEPTH] for (indices, _), itself in zip(answers, exclude)]
            n_relevant -= labels[exclude] == y
        return metrics.ranking_metrics(rankings, y, labels, n_relevant, k, RANKING_DEPTH)

    # -- similarities -----------------------------------------------------

    def _similarities(self, X) -> sp.csr_matrix:
        queries = normalize(sp.csr_matrix(X, dtype=np.float64), norm="l2", copy=True)
        if queries.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {queries.shape[1]} terms, the fitted corpus has {self.n_features_in_}"
            )
        similarities = queries @ self.inverted_index_
        similarities.sum_duplicates()
        similarities = similarities.tocsr()
        if getattr(self, "latent_corpus_", None) is not None:
            self._blend_latent(queries, similarities)
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
        latent_corpus = np.empty((corpus.shape[0], n_components), dtype=np.float16)
        for start in range(0, corpus.shape[0], _LATENT_FIT_MAX_DOCUMENTS):
            chunk = corpus[start:start + _LATENT_FIT_MAX_DOCUMENTS]
            latent_corpus[start:start + chunk.shape[0]] = normalize(chunk @ components)
        return np.ascontiguousarray(components, dtype=np.float16), latent_corpus

    def _blend_latent(self, queries: sp.csr_matrix, similarities: sp.csr_matrix) -> None:
        """Re-score, in place, each query's ``latent_candidates`` best matches."""
        weight = self.latent_weight
        n_candidates = max(int(self.latent_candidates), 1)
        for row in range(similarities.shape[0]):
            start, end = similarities.indptr[row], similarities.indptr[row + 1]
            scores = similarities.data[start:end]  # a view: changed in place
            if len(scores) > n_candidates:
                candidates = np.argpartition(-scores, n_candidates - 1)[:n_candidates]
            else:
                candidates = np.arange(len(scores))
            # Plain NumPy on the query's own terms: per-query overheads of
            # scipy and sklearn.normalize would cost more than the arithmetic.
            terms = slice(queries.indptr[row], queries.indptr[row + 1])
            latent_query = queries.data[terms].astype(np.float32) @ self.latent_terms_[queries.indices[terms]].astype(
                np.float32
            )
            norm = np.linalg.norm(latent_query)
            if norm > 0:
                latent_query /= norm
            candidate_vectors = self.latent_corpus_[similarities.indices[start:end][candidates]].astype(np.float32)
            latent = candidate_vectors @ latent_query
            scores *= 1.0 - weight
            scores[candidates] += weight * np.maximum(latent, 0.0)
