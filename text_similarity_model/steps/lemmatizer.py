"""``LemmatizationTransformer``: Portuguese text -> lemma lists, with spaCy."""

from __future__ import annotations

import os
from contextlib import nullcontext
from functools import cached_property
from itertools import chain
from numbers import Integral

from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted
from spacy.attrs import ORTH, SPACY

from .caching import DropsCachesWhenPickled
from .text import as_documents, fold_accents, split_document, without_lone_surrogates

#: Value of ``spacy_model`` meaning "spaCy's blank Portuguese language with
#: the lookup lemmatizer": works offline, nothing to download.
BLANK_PORTUGUESE = "blank:pt"

#: Values of ``LemmatizationTransformer(output=...)``.
OUTPUTS = ("lemmas", "text")

# Documents above this count show a progress bar while lemmatizing (when
# ``progress=True``): below it the bar would flash by.
_PROGRESS_MIN_DOCUMENTS = 2000

# Caches of lemmatization results (per word, per token) stop growing past this
# size; with spaCy's memory zones around each query (LookupLemmatizer), hostile
# queries of new words can't grow a worker's memory without bound.
_CACHE_MAX = 200_000
_DROPPED = None
_MISSING = object()


class SpacyModelNotFound(ValueError):
    """The spaCy pipeline named in ``spacy_model`` is not installed."""


def load_portuguese_lemma_lookup() -> dict[str, str]:
    """Return spaCy's Portuguese lookup table (form -> lemma) as plain strings.

    These are the very tables spaCy's ``Lemmatizer(mode="lookup")`` uses for
    ``spacy.blank("pt")``; read directly from ``spacy-lookups-data`` because
    spaCy's own ``Table`` keys them by hash, which loses the forms we need to
    keep a vocabulary-restricted copy, and takes seconds to build.
    """
    try:
        import spacy_lookups_data
        import srsly
    except ImportError as error:  # pragma: no cover - a broken install
        raise SpacyModelNotFound(
            "spacy-lookups-data is not installed; run: pip install spacy-lookups-data"
        ) from error
    return srsly.read_gzip_json(spacy_lookups_data.get_file("pt_lemma_lookup.json.gz"))


class LemmatizationTransformer(DropsCachesWhenPickled, TransformerMixin, BaseEstimator):
    """Lowercase, tokenize and lemmatize Portuguese text with spaCy.

    Stop words, punctuation, numbers and whitespace tokens are dropped.

    Parameters
    ----------
    spacy_model : str or path, default "blank:pt"
        ``"blank:pt"``: ``spacy.blank("pt")`` with spaCy's lookup lemmas from
        the ``spacy-lookups-data`` package (offline, nothing downloaded).
        Any other value is the name of an installed spaCy pipeline (e.g.
        ``"pt_core_news_sm"``) or the folder of a saved one
        (``nlp.to_disk``), whose own lemmatizer is then used.
    lemmatize : bool, default True
        False keeps the lowercase word forms (still dropping stop words etc.).
    strip_accents : bool, default False
        Fold accents after lemmatization (``"máquina"`` -> ``"maquina"``), so
        texts typed without accents still match.
    title_weight : int >= 0, default 1
        For ``(title, description)`` documents, how many times the title's
        lemmas count (0: titles are ignored).
    n_process : int >= 1, or -1, default 1
        With a named spaCy pipeline: processes lemmatizing the corpus in
        ``fit`` (``nlp.pipe(n_process=...)``; -1: one per CPU). The blank
        pipeline runs in one process: its per-word cache tokenizes each
        distinct word once (a whole training on 1M talks takes 1.6 min:
        benchmarks/README.md, "Scale").
    batch_size : int >= 1, default 256
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
        instead of going through spaCy's tokenizer (:class:`LookupLemmatizer`).

    A named spaCy pipeline learns nothing from the corpus: the transformer
    is then stateless (fitted from the start).
    """

    _parameter_constraints: dict = {
        "spacy_model": [str, os.PathLike],
        "lemmatize": ["boolean"],
        "strip_accents": ["boolean"],
        "title_weight": [Interval(Integral, 0, None, closed="left")],
        "n_process": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "progress": ["boolean"],
        "output": [StrOptions(set(OUTPUTS))],
    }

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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the lemma table restricted to the corpus. Returns ``self``."""
        self._fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
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
        return [self.transform_one(document) for document in as_documents(X)]

    def transform_one(self, document) -> list[str] | str:
        """One document's lemmas (a string or a ``(title, description)``
        pair): a row of :meth:`transform`, without scikit-learn's per-call
        output wrapping (the service lemmatizes one query at a time)."""
        return self.combine(*self.lemmatize_fields(document))

    def lemmatize_fields(self, document) -> tuple[list[str], list[str]]:
        """The raw lemmas of a document's title and of its description, each
        on its own: what :meth:`combine` makes a row of :meth:`transform` of,
        and :meth:`field_document` a document of one field."""
        title, description = split_document(document)
        lemmatize = self._lemmatize_text
        return lemmatize(title), lemmatize(description)

    def combine(self, title_lemmas: list[str], description_lemmas: list[str]) -> list[str] | str:
        """A document's row of :meth:`transform` from :meth:`lemmatize_fields`:
        the title's lemmas ``title_weight`` times, then the description's."""
        return self._as_output(title_lemmas * self.title_weight + description_lemmas)

    def field_document(self, lemmas: list[str]) -> list[str] | str:
        """One field's lemmas (of :meth:`lemmatize_fields`) as a document the
        fitted vectorizer takes, counted once: the title or the description
        alone, for comparing talks field by field (:mod:`.repeats`)."""
        return self._as_output(lemmas)

    def __sklearn_is_fitted__(self) -> bool:
        return not self._uses_blank_pipeline() or hasattr(self, "lemma_lookup_")

    # -- fitting ----------------------------------------------------------

    def _fit_transform(self, X) -> list[list[str]]:
        documents = as_documents(X)
        self._drop_caches()
        texts = [part for document in documents for part in split_document(document)]
        if self._uses_blank_pipeline():
            token_lists = self._fit_lookup(texts)
        else:
            lowered = (_prepare(text) for text in texts)
            docs = self._nlp.pipe(lowered, batch_size=self.batch_size, n_process=self.n_process)
            token_lists = [[self._pipeline_lemma(token) for token in doc if _is_content(token)]
                           for doc in self._with_progress(docs, len(texts))]
        return [self.combine(title_tokens, description_tokens)
                for title_tokens, description_tokens in zip(token_lists[0::2], token_lists[1::2])]

    def _fit_lookup(self, texts: list[str]) -> list[list[str]]:
        """The blank pipeline's raw (accent-preserving) lemma lists of ``texts``;
        learns ``word_lemmas_`` and ``lemma_lookup_`` on the way."""
        # Without lemmatization an empty table maps every form to itself.
        full_lookup = load_portuguese_lemma_lookup() if self.lemmatize else {}
        word_lemmas: dict = {}
        lemmatizer = LookupLemmatizer(self._nlp, full_lookup, word_lemmas)
        token_lists = [lemmatizer(text) for text in self._with_progress(texts, len(texts))]
        # The lemmas of a corpus word are the same with the restricted table.
        self.word_lemmas_ = word_lemmas
        corpus_lemmas = {lemma for tokens in token_lists for lemma in tokens}
        self.lemma_lookup_ = {
            form: lemma
            for form, lemma in full_lookup.items()
            if lemma in corpus_lemmas or form in corpus_lemmas
        }
        return token_lists

    def _with_progress(self, items, total: int):
        """``items``, behind a progress bar when asked for and worth showing."""
        if not (self.progress and total >= _PROGRESS_MIN_DOCUMENTS):
            return items
        from tqdm.auto import tqdm

        return tqdm(items, total=total, desc="lemmatizing", unit="text")

    # -- transforming -----------------------------------------------------

    def _as_output(self, lemmas: list[str]) -> list[str] | str:
        if self.strip_accents:
            lemmas = [fold_accents(lemma) for lemma in lemmas]
        return " ".join(lemmas) if self.output == "text" else lemmas

    @cached_property
    def _lemmatize_text(self):
        """``text -> lemmas`` (raw, accent-preserving) with what was fitted."""
        check_is_fitted(self)
        if self._uses_blank_pipeline():
            # Seeded with the corpus' words; grows with the queries' (a copy: the fitted table stays as fitted).
            return LookupLemmatizer(self._nlp, self.lemma_lookup_, dict(self.word_lemmas_), memory_zones=True)
        return self._lemmatize_with_pipeline

    def _lemmatize_with_pipeline(self, text: str) -> list[str]:
        if not text:
            return []
        with self._nlp.memory_zone():  # what spaCy learns of this text is forgotten after it (see LookupLemmatizer)
            return [self._pipeline_lemma(token) for token in self._nlp(_prepare(text)) if _is_content(token)]

    def _pipeline_lemma(self, token) -> str:
        return token.lemma_ if self.lemmatize else token.text

    # -- spaCy ------------------------------------------------------------

    def _uses_blank_pipeline(self) -> bool:
        return self.spacy_model == BLANK_PORTUGUESE

    @cached_property
    def _nlp(self):
        """The spaCy ``Language``, created on first use: pickling it would
        drag its vocab and tables into every model file."""
        return _load_spacy(self.spacy_model)


class LookupLemmatizer:
    """The kept lemmas of a text as spaCy's lookup lemmatizer gives them
    (``lookup.get(token.text, token.text)``), for the tokens of
    ``nlp.tokenizer`` that are not stop words, punctuation, numbers or spaces.

    spaCy's tokenizer splits at whitespace first and tokenizes each
    whitespace-free chunk on its own (prefixes, suffixes, infixes, special
    cases all stay inside a chunk), and whitespace tokens are dropped here
    anyway: so a chunk's lemmas are cached by the chunk (``word_lemmas``),
    and a token's fate by its hash (stop words, punctuation... are flags of
    the word). A query then costs a dict look-up per word. A new chunk of
    letters only that is none of the tokenizer's special cases is one token,
    itself (no prefix, suffix or infix rule applies to letters): it skips the
    tokenizer too. ``tests/test_pipeline_steps.py`` checks the lemmas equal
    spaCy's on the whole real corpus.

    spaCy keeps every string and word it meets for the life of the process.
    With ``memory_zones`` (the service's queries), what it learns of a text's
    new words is freed once they are lemmatized (``nlp.memory_zone()``), and
    only this class's bounded caches keep them (benchmarks/memory_growth_bench.py).
    """

    def __init__(self, nlp, lookup: dict[str, str], word_lemmas: dict[str, tuple[str, ...]],
                 memory_zones: bool = False):
        self.nlp = nlp
        self.lookup = lookup
        self.word_lemmas = word_lemmas
        self.token_lemmas: dict[int, str | None] = {}
        self.special_cases = frozenset(nlp.tokenizer.rules)
        self.memory_zones = memory_zones

    def __call__(self, text: str) -> list[str]:
        """The kept lemmas of ``text`` (lowercased here), in text order."""
        if not text:
            return []
        chunks = _prepare(text).split()
        try:  # the usual case: every word seen before
            return list(chain.from_iterable(map(self.word_lemmas.__getitem__, chunks)))
        except KeyError:
            return self._with_new_chunks(chunks)

    def _with_new_chunks(self, chunks: list[str]) -> list[str]:
        word_lemmas = self.word_lemmas
        unseen = [chunk for chunk in dict.fromkeys(chunks) if chunk not in word_lemmas]
        # Within the zone, spaCy's strings and lexemes of the new chunks are made; only plain strings leave it.
        with self.nlp.memory_zone() if self.memory_zones else nullcontext():
            found = self._chunk_lemmas(unseen)
        if found and len(word_lemmas) < _CACHE_MAX:
            word_lemmas.update(found)
        lemmas: list[str] = []
        for chunk in chunks:
            chunk_lemmas = word_lemmas.get(chunk)
            lemmas.extend(found[chunk] if chunk_lemmas is None else chunk_lemmas)
        return lemmas

    def _chunk_lemmas(self, unseen: list[str]) -> dict[str, tuple[str, ...]]:
        """The lemmas of each chunk of ``unseen``, from spaCy's tokenizer and vocabulary."""
        found = {}
        strings = self.nlp.vocab.strings
        to_tokenize = []
        for chunk in unseen:
            if chunk.isalpha() and chunk not in self.special_cases:
                found[chunk] = self._token_lemmas([strings.add(chunk)])
            else:
                to_tokenize.append(chunk)
        if to_tokenize:
            # One tokenizer call for the other new chunks, joined by single spaces,
            # then cut back into chunks at the tokens followed by a space.
            tokens = self.nlp.tokenizer(" ".join(to_tokenize)).to_array([ORTH, SPACY]).tolist()
            ends = [position + 1 for position, (_, space) in enumerate(tokens) if space] + [len(tokens)]
            if len(ends) != len(to_tokenize):  # never seen; but a misaligned cut would be silent
                raise RuntimeError(f"tokenizer cut {len(to_tokenize)} chunks into {len(ends)}")
            start = 0
            for chunk, end in zip(to_tokenize, ends):
                found[chunk] = self._token_lemmas([orth for orth, _ in tokens[start:end]])
                start = end
        return found

    def _token_lemmas(self, orths: list[int]) -> tuple[str, ...]:
        vocab, lookup, cache = self.nlp.vocab, self.lookup, self.token_lemmas
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


def _prepare(text: str) -> str:
    return without_lone_surrogates(text.lower())


def _is_content(token) -> bool:
    """Not a stop word, punctuation, number or space: flags a spaCy ``Token``
    shares with its ``Lexeme``, so either can be asked."""
    return not (token.is_stop or token.is_punct or token.like_num or token.is_space)


def _load_spacy(name: str | os.PathLike):
    import spacy

    if name == BLANK_PORTUGUESE:
        return spacy.blank("pt")
    try:
        return spacy.load(name, exclude=["ner", "parser"])
    except OSError as error:
        raise SpacyModelNotFound(
            f"spaCy pipeline {str(name)!r} is not installed. Install it "
            f"(python -m spacy download {name}) or use spacy_model={BLANK_PORTUGUESE!r}, "
            "which works offline with spacy-lookups-data."
        ) from error
