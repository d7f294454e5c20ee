"""palestras' related-talks model: lemmas -> TF-IDF -> cosine similarities."""

from importlib import import_module
from typing import TYPE_CHECKING

from .errors import DataError, IncompatibleModelError, ModelFileError, PalestrasError, TamperedModelError

if TYPE_CHECKING:
    from .model import Model, TrainingReport
    from .steps.lemmatizer import LemmatizationTransformer
    from .steps.pipeline import build_pipeline
    from .steps.similarity import CosineSimilaritiesEstimator

# Imported on first use: the scraper imports this package for its light
# modules (contract, settings) and must not wait seconds for spaCy,
# scikit-learn and pandas on every crawl.
_LAZY = {
    "CosineSimilaritiesEstimator": ".steps.similarity",
    "LemmatizationTransformer": ".steps.lemmatizer",
    "Model": ".model",
    "TrainingReport": ".model",
    "build_pipeline": ".steps.pipeline",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CosineSimilaritiesEstimator",
    "DataError",
    "IncompatibleModelError",
    "LemmatizationTransformer",
    "Model",
    "ModelFileError",
    "PalestrasError",
    "TamperedModelError",
    "TrainingReport",
    "build_pipeline",
]
