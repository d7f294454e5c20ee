"""The scikit-learn steps of the related-talks pipeline.

``LemmatizationTransformer`` turns raw Portuguese text into lemma lists and
``CosineSimilaritiesEstimator`` ranks a fitted corpus against queries. Both
follow scikit-learn's conventions (parameters only stored in ``__init__``,
learned state in ``_`` attributes) so ``clone``, ``get_params``/``set_params``
and model selection work on them.
"""

from __future__ import annotations

import unicodedata
from itertools import chain

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted
from spacy.attrs import ORTH, SPACY

from . import metrics
from .metrics import RANKING_DEPTH, RankingMetrics

try:  # the ranking hot loop in C, built by setup.py when a C compiler is there
    from . import _ranking
except ImportError:  # pragma: no cover - depends on the install
    _ranking = None

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
        With a named spaCy pipeline: processes lemmatizing the corpus in
        ``fit`` (``nlp.pipe(n_process=...)``). The blank pipeline runs in one
        process: its per-word cache tokenizes each distinct word once
        (1M talks in under 2 minutes, ``benchmarks/scale_bench.py``).
    batch_size : int, default 256
        With a named spaCy pipeline: documents per batch handed to it.
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
    word_lemmas_ : dict[str, tuple[str, ...]]
        Blank pipeline only: the lemmas of each whitespace-separated word of
        the fitted corpus (at most 200,000 words), as computed while fitting.
        A query's words are mostly the corpus', so they are looked up here
        instead of going through spaCy's tokenizer (``_lookup_lemmas``).
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
        return [self.lemmas_of(document) for document in _as_documents(X)]

    def lemmas_of(self, document) -> list[str] | str:
        """One document's lemmas (a string or a ``(title, description)``
        pair): a row of :meth:`transform`, without scikit-learn's per-call
        output wrapping (the service lemmatizes one query at a time)."""
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)  # raises NotFittedError with scikit-learn's message
        if self._uses_blank_pipeline():
            return self._weighted_lemmas(document, self._lemmatize_with_lookup)
        return self._weighted_lemmas(document, self._lemmatize_with_pipeline)

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
        word_lemmas: dict = {}
        token_lists = self._tokenize_corpus(nlp, texts, full_lookup, word_lemmas)

        if full_lookup is not None:
            # The lemmas of a corpus word are the same with the restricted table.
            self.word_lemmas_ = word_lemmas
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

    def _tokenize_corpus(self, nlp, texts, full_lookup, word_lemmas: dict) -> list[list[str]]:
        """Raw (accent-preserving) lemma lists for every text of the corpus;
        with the lookup table, ``word_lemmas`` gets each word's lemmas."""
        if full_lookup is not None:
            # Only the tokenizer is needed: lemmas come from the lookup table.
            caches = _lemma_caches(nlp, word_lemmas)
            return [_lookup_lemmas(nlp, _prepare(text), full_lookup, *caches)
                    for text in self._with_progress(texts, len(texts))]
        lowered = (_prepare(text) for text in texts)
        docs = nlp.pipe(lowered, batch_size=self.batch_size, n_process=self.n_process)
        return [[self._pipeline_lemma(token) for token in doc if _is_content(token)]
                for doc in self._with_progress(docs, len(texts))]

    def _with_progress(self, items, total: int):
        """``items``, behind a progress bar when asked for and worth showing."""
        if not (self.progress and total >= _PROGRESS_MIN_DOCUMENTS):
            return items
        from tqdm.auto import tqdm

        return tqdm(items, total=total, desc="lemmatizing", unit="text")

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
        caches = self.__dict__.get("_lemma_caches")
        if caches is None:
            # Seeded with the corpus' words (a model from before word_lemmas_: empty).
            caches = self.__dict__["_lemma_caches"] = _lemma_caches(
                self._nlp(), dict(getattr(self, "word_lemmas_", {})))
        return _lookup_lemmas(self._nlp(), _prepare(text), self.lemma_lookup_, *caches)

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
        state.pop("_lemma_caches", None)
        return state


def _prepare(text: str) -> str:
    return without_lone_surrogates(text.lower())


# Caches of lemmatization results (per word, per token) stop growing past this
# size, so hostile queries can't grow a worker's memory without bound.
_CACHE_MAX = 200_000
_DROPPED = None
_MISSING = object()


def _lemma_caches(nlp, word_cache: dict) -> tuple[dict, dict, frozenset]:
    """What :func:`_lookup_lemmas` takes after the lookup table: the word
    cache, an empty token cache, and the tokenizer's special cases."""
    return word_cache, {}, frozenset(nlp.tokenizer.rules)


def _lookup_lemmas(nlp, text: str, lookup: dict, word_cache: dict, token_cache: dict,
                   special_cases: frozenset) -> list[str]:
    """The kept lemmas of ``text`` (already lowercased), as spaCy's lookup
    lemmatizer gives them (``lookup.get(token.text, token.text)``) for the
    tokens of ``nlp.tokenizer`` that are not stop words, punctuation,
    numbers or spaces.

    spaCy's tokenizer splits at whitespace first and tokenizes each
    whitespace-free chunk on its own (prefixes, suffixes, infixes, special
    cases all stay inside a chunk), and whitespace tokens are dropped here
    anyway: so a chunk's lemmas are cached by the chunk (``word_cache``), and
    a token's fate by its hash (``token_cache``: stop words, punctuation...
    are flags of the word). A query then costs a dict look-up per word. A
    new chunk of letters only that is none of the tokenizer's
    ``special_cases`` is one token, itself (no prefix, suffix or infix rule
    applies to letters): it skips the tokenizer too.
    ``tests/test_transformers.py`` checks the lemmas equal spaCy's on the
    whole real corpus.
    """
    chunks = text.split()
    try:  # the usual case: every word seen before
        return list(chain.from_iterable(map(word_cache.__getitem__, chunks)))
    except KeyError:
        pass
    unseen = [chunk for chunk in dict.fromkeys(chunks) if chunk not in word_cache]
    found = {}
    vocab = nlp.vocab
    to_tokenize = []
    for chunk in unseen:
        if chunk.isalpha() and chunk not in special_cases:
            found[chunk] = _token_lemmas([vocab.strings.add(chunk)], vocab, lookup, token_cache)
        else:
            to_tokenize.append(chunk)
    if to_tokenize:
        # One tokenizer call for the other new chunks, joined by single spaces,
        # then cut back into chunks at the tokens followed by a space.
        tokens = nlp.tokenizer(" ".join(to_tokenize)).to_array([ORTH, SPACY]).tolist()
        ends = [position + 1 for position, (_, space) in enumerate(tokens) if space] + [len(tokens)]
        if len(ends) != len(to_tokenize):  # never seen; but a misaligned cut would be silent
            raise RuntimeError(f"tokenizer cut {len(to_tokenize)} chunks into {len(ends)}")
        start = 0
        for chunk, end in zip(to_tokenize, ends):
            found[chunk] = _token_lemmas([orth for orth, _ in tokens[start:end]], vocab, lookup, token_cache)
            start = end
    if found and len(word_cache) < _CACHE_MAX:
        word_cache.update(found)
    lemmas: list[str] = []
    for chunk in chunks:
        chunk_lemmas = word_cache.get(chunk)
        lemmas.extend(found[chunk] if chunk_lemmas is None else chunk_lemmas)
    return lemmas


def _token_lemmas(orths: list[int], vocab, lookup: dict, cache: dict) -> tuple[str, ...]:
    lemmas = []
    for orth in orths:
        lemma = cache.get(orth, _MISSING)
        if lemma is _MISSING:
            lexeme = vocab[orth]
            lemma = lookup.get(lexeme.text, lexeme.text) if _is_content(lexeme) else _DROPPED
            if len(cache) < _CACHE_MAX:
                cache[orth] = lemma
        if lemma is not _DROPPED:
            lemmas.append(lemma)
    return tuple(lemmas)


def _is_content(token) -> bool:
    """Not a stop word, punctuation, number or space: flags a spaCy ``Token``
    shares with its ``Lexeme``, so either can be asked."""
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
    latent_corpus_ : ndarray of shape (n_documents, n_components), float32, or None
        The corpus' latent representations, L2-normalised. The terms' are
        kept in half precision (3 significant digits are plenty for one
        ingredient of a blended score, at half the model file), only the rows
        of a query's terms converted to float32; the corpus' stay float32,
        as converting a query's 200 candidate rows would double the cost of
        the blend.
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
        self.__dict__.pop("_kernel_cache", None)
        return self

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

        This is the service's hot path: one call into a small C kernel
        (``_ranking.c``) walks the postings of the query's terms on the
        inverted index, sums them per talk, re-scores the best candidates
        in the latent space and keeps the ``k`` best, so a query costs in
        proportion to its postings, not to the corpus. Without the compiled
        kernel the same steps run in NumPy (``_query_scores``, ``_best``),
        with the same results.
        """
        if not hasattr(self, "inverted_index_"):
            check_is_fitted(self)
        if not sp.issparse(X) or X.format != "csr":
            X = sp.csr_matrix(X)
        return [self.rank(X.indices[X.indptr[row]:X.indptr[row + 1]], X.data[X.indptr[row]:X.indptr[row + 1]], k, mask)
                for row in range(X.shape[0])]

    def rank(self, terms: np.ndarray, weights: np.ndarray, k: int,
             mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`top_k` of one query given as its sparse vector: its terms
        (column indices) and their weights."""
        kernel = self._kernel_arrays()
        if kernel is not None:
            return self._rank_compiled(kernel, terms, weights, k, mask)
        weights = l2_normalized(np.asarray(weights, dtype=np.float64))
        documents, scores = self._query_scores(terms, weights)
        if mask is not None:
            keep = mask[documents]
            documents, scores = documents[keep], scores[keep]
        return _best(documents, scores, k)

    def _kernel_arrays(self) -> tuple | None:
        """The fitted arrays as the C kernel takes them (built once, never
        pickled), or None to rank with NumPy: no compiled kernel, or an
        index too large for its 32-bit offsets."""
        arrays = self.__dict__.get("_kernel_cache")
        if arrays is None:
            index = self.inverted_index_
            latent = getattr(self, "latent_corpus_", None) is not None
            usable = (_ranking is not None and index.indptr.dtype == np.int32
                      and index.indices.dtype == np.int32 and index.data.dtype == np.float64)
            # The latent term vectors widened to float32 once here (a few MB,
            # shared by gunicorn's workers): the file keeps them in float16.
            arrays = (index.indptr, index.indices, index.data, index.shape[1], bool((index.data > 0).all()),
                      self.latent_terms_.astype(np.float32) if latent else None,
                      self.latent_corpus_ if latent else None) if usable else ()
            self.__dict__["_kernel_cache"] = arrays
        return arrays or None

    def _rank_compiled(self, arrays: tuple, terms, weights, k: int, mask) -> tuple[np.ndarray, np.ndarray]:
        indptr, indices, data, n_documents, positive_index, latent_terms, latent_corpus = arrays
        documents, scores = np.empty(k, dtype=np.int64), np.empty(k)
        if mask is not None:
            mask = np.ascontiguousarray(mask, dtype=bool)
        written = _ranking.rank(
            indptr, indices, data, n_documents, positive_index, np.ascontiguousarray(terms, dtype=np.int32),
            np.ascontiguousarray(weights, dtype=np.float64),
            latent_terms, latent_corpus, float(self.latent_weight), int(self.latent_candidates),
            mask, documents, scores)
        return documents[:written].astype(np.intp, copy=False), scores[:written]

    def _query_scores(self, terms: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(documents, scores)`` of every talk sharing a term with one query
        (``terms`` and their L2-normalised ``weights``), documents ascending.
        The NumPy twin of the C kernel's steps 1 and 2 (``_ranking.c``)."""
        index = self.inverted_index_
        starts = index.indptr[terms]
        lengths = index.indptr[terms + 1] - starts
        total = int(lengths.sum())
        if total == 0 or not weights.any():
            return np.empty(0, dtype=np.intp), np.empty(0)
        # Positions of all the query terms' postings in the index, term by term.
        positions = np.arange(total) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        contributions = index.data[positions] * np.repeat(weights, lengths)
        # Summed per talk in term order, as a sparse product would.
        dense = np.bincount(index.indices[positions], weights=contributions, minlength=index.shape[1])
        documents = np.flatnonzero(dense)
        scores = dense[documents]
        if getattr(self, "latent_corpus_", None) is not None:
            scores = self._blend(terms, weights, documents, scores)
        return documents, np.minimum(scores, 1.0)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_kernel_cache", None)
        return state

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
        if getattr(self, "latent_corpus_", None) is not None:
            for row in range(similarities.shape[0]):
                start, end = similarities.indptr[row], similarities.indptr[row + 1]
                terms = slice(queries.indptr[row], queries.indptr[row + 1])
                similarities.data[start:end] = self._blend(
                    queries.indices[terms], queries.data[terms],
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

    def _blend(self, terms: np.ndarray, weights: np.ndarray, documents: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """One query's blended scores: its ``latent_candidates`` best TF-IDF
        matches re-scored with the latent cosine, the others scaled down.

        ``terms``/``weights``: the query's L2-normalised TF-IDF vector;
        ``documents``/``scores``: its TF-IDF matches (documents ascending).
        """
        weight = self.latent_weight
        candidates = _best_positions(scores, max(int(self.latent_candidates), 1))
        # In double precision from the stored float16/float32 rows, as the C kernel does.
        latent_query = weights @ self.latent_terms_[terms].astype(np.float64)
        norm = np.sqrt(np.dot(latent_query, latent_query))
        if norm > 0:
            latent_query /= norm
        latent = self.latent_corpus_[documents[candidates]].astype(np.float64) @ latent_query
        blended = scores * (1.0 - weight)
        blended[candidates] += weight * np.maximum(latent, 0.0)
        return blended


def ranking_backend() -> str:
    """``"compiled"`` when the C ranking kernel was built, else ``"numpy"``
    (the same answers, slower: see benchmarks/README.md)."""
    return "compiled" if _ranking is not None else "numpy"


def l2_normalized(weights: np.ndarray) -> np.ndarray:
    """``weights`` scaled to unit L2 norm (all zeros stay zeros)."""
    norm = np.sqrt(np.dot(weights, weights))
    return weights / norm if norm > 0 else weights


def _best_positions(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best ``scores``, ties by lower position (the
    documents being ascending, by lower document): the C kernel's choice."""
    if n >= len(scores):
        return np.arange(len(scores))
    nth_best = np.partition(scores, len(scores) - n)[len(scores) - n]
    above = np.flatnonzero(scores > nth_best)
    tied = np.flatnonzero(scores == nth_best)[:n - len(above)]
    return np.concatenate((above, tied))


def _best(documents: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best ``(documents, scores)``, by decreasing score then increasing document."""
    if k < len(scores):
        kth_best = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth_best  # all talks tied with the k-th, cut by index below
        documents, scores = documents[keep], scores[keep]
    order = np.lexsort((documents, -scores))[:k]
    return documents[order].astype(np.intp), scores[order]
