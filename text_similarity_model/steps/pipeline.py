"""``build_pipeline``: Lemmatization -> TF-IDF -> cosine similarities."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from .lemmatizer import LemmatizationTransformer
from .similarity import CosineSimilaritiesEstimator
from .text import passthrough
from .vectorizer import QueryTfidfVectorizer

#: Name of the configuration ``DEFAULT_PARAMS`` holds, recorded in each
#: model's metadata (``"configuration"``) beside the parameters themselves.
DEFAULT_CONFIGURATION = "judged-2026-12"

#: Parameters of the defaults, in ``Pipeline.set_params`` form: the
#: configuration chosen on judged relevance (nDCG@10 on
#: ``../shared/data/judged_2018.json``, docs/quality.md; issue #19): the
#: title's lemmas count twice; the lemmas are joined and tokenized again by
#: ``TfidfVectorizer``'s own pattern (``node.js`` -> node, js, as the
#: original design did), and spaCy's Portuguese stop words are dropped again
#: from the lemmas; the corpus' rows are BM25-weighted (k1 = 10, b = 0.75)
#: while queries stay TF-IDF; the score stays a cosine (``corpus_norm="l2"``);
#: no LSA. Kept in one place so the artifact's metadata records what a model
#: was built with.
DEFAULT_PARAMS: dict = {
    "lemmas__title_weight": 2,
    "lemmas__output": "text",
    "tfidf__tokenizer": None,
    "tfidf__preprocessor": None,
    "tfidf__token_pattern": r"(?u)\b\w\w+\b",
    "tfidf__lowercase": True,
    "tfidf__stop_words": "portuguese",
    "tfidf__corpus_weighting": "bm25",
    "tfidf__k1": 10.0,
    "tfidf__b": 0.75,
    "cosine__corpus_norm": "l2",
    "cosine__latent_components": 0,
}

#: The original design (TDC Recife 2019): spaCy lemmas joined into a string,
#: ``TfidfVectorizer()`` with all its defaults (which tokenizes again with its
#: ``token_pattern``, dropping one-character tokens, and lowercases), cosine.
#: It sets every key of ``DEFAULT_PARAMS`` too, so it never inherits a tuned value.
BASELINE_PARAMS: dict = {
    "lemmas__lemmatize": True,
    "lemmas__strip_accents": False,
    "lemmas__title_weight": 1,
    "lemmas__output": "text",
    "tfidf__tokenizer": None,
    "tfidf__preprocessor": None,
    "tfidf__token_pattern": r"(?u)\b\w\w+\b",
    "tfidf__lowercase": True,
    "tfidf__sublinear_tf": False,
    "tfidf__min_df": 1,
    "tfidf__max_df": 1.0,
    "tfidf__ngram_range": (1, 1),
    "tfidf__norm": "l2",
    "tfidf__stop_words": None,
    "tfidf__corpus_weighting": "tfidf",
    "tfidf__k1": 1.2,
    "tfidf__b": 0.75,
    "cosine__corpus_norm": "l2",
    "cosine__latent_components": 0,
    "cosine__latent_weight": 0.5,
}

#: The default until #19 ("tuned-2026-11", chosen on same-track P@5, a proxy):
#: lemma lists as tokens, the title counted 3 times, the TF-IDF cosine blended
#: half and half with a 100-dimension LSA cosine. Every key of ``DEFAULT_PARAMS``
#: set, so comparisons (the notebook, docs/quality.md) measure it as it was.
PREVIOUS_DEFAULT_PARAMS: dict = {
    "lemmas__title_weight": 3,
    "lemmas__output": "lemmas",
    "tfidf__tokenizer": passthrough,
    "tfidf__preprocessor": passthrough,
    "tfidf__token_pattern": None,
    "tfidf__lowercase": False,
    "tfidf__stop_words": None,
    "tfidf__corpus_weighting": "tfidf",
    "tfidf__k1": 1.2,
    "tfidf__b": 0.75,
    "cosine__corpus_norm": "l2",
    "cosine__latent_components": 100,
    "cosine__latent_weight": 0.5,
}

#: Named configurations the evaluation compares.
CONFIGURATIONS: dict[str, dict] = {"baseline": BASELINE_PARAMS, "default": DEFAULT_PARAMS}


def configuration_name(params: dict) -> str:
    """``DEFAULT_CONFIGURATION`` when ``params`` change nothing of the
    defaults, ``"baseline"`` for the original design, else ``"custom"``."""
    effective = {**DEFAULT_PARAMS, **params}
    if effective == DEFAULT_PARAMS:
        return DEFAULT_CONFIGURATION
    if all(effective.get(name) == value for name, value in BASELINE_PARAMS.items()):
        return "baseline"
    return "custom"


def fit_with_talk_vectors(pipeline: Pipeline, X, y=None):
    """Fit ``pipeline`` (of :func:`build_pipeline`) on the talks ``X`` (and
    labels ``y``), as ``pipeline.fit`` would, and return the talks' vectors as
    queries: a CSR matrix of shape (n_talks, n_terms).

    These are what ranking a corpus talk as a query must use (leave-one-out,
    ``Model.related``, the track classifier): with
    ``tfidf__corpus_weighting="bm25"`` the scoring step's ``corpus_`` holds
    BM25 rows, not query vectors (:class:`.QueryTfidfVectorizer`).
    """
    lemmas, tfidf, cosine = (step for _, step in pipeline.steps)
    corpus_rows, talk_vectors = tfidf.fit_corpus(lemmas.fit_transform(X))
    cosine.fit(corpus_rows, y)
    return talk_vectors


def build_pipeline(**params) -> Pipeline:
    """Return a new, unfitted pipeline; ``params`` as for ``Pipeline.set_params``.

    Steps: ``lemmas`` (:class:`LemmatizationTransformer`), ``tfidf``
    (:class:`.QueryTfidfVectorizer`, a ``TfidfVectorizer`` with a fast query path, over the lemma
    lists) and ``cosine`` (:class:`CosineSimilaritiesEstimator`). Example::

        build_pipeline(lemmas__strip_accents=True, tfidf__sublinear_tf=True)

    A fresh object on every call: models never share fitted state.
    """
    pipeline = Pipeline(
        [
            ("lemmas", LemmatizationTransformer()),
            (
                "tfidf",
                # The lemmatizer already lowercased and tokenized.
                QueryTfidfVectorizer(
                    tokenizer=passthrough,
                    preprocessor=passthrough,
                    token_pattern=None,
                    lowercase=False,
                ),
            ),
            ("cosine", CosineSimilaritiesEstimator()),
        ]
    )
    return pipeline.set_params(**{**DEFAULT_PARAMS, **params})
