"""``build_pipeline``: Lemmatization -> TF-IDF -> cosine similarities."""

from __future__ import annotations

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from .transformers import CosineSimilaritiesEstimator, LemmatizationTransformer, passthrough

#: Parameters of the defaults, in ``Pipeline.set_params`` form. Kept in one
#: place so the artifact's metadata can record what a model was built with.
DEFAULT_PARAMS: dict = {}


def build_pipeline(**params) -> Pipeline:
    """Return a new, unfitted pipeline; ``params`` as for ``Pipeline.set_params``.

    Steps: ``lemmas`` (:class:`LemmatizationTransformer`), ``tfidf``
    (:class:`~sklearn.feature_extraction.text.TfidfVectorizer` over the lemma
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
                TfidfVectorizer(
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
