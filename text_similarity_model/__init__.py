"""palestras' related-talks model: lemmas -> TF-IDF -> cosine similarities."""

from .errors import DataError, IncompatibleModelError, ModelFileError, PalestrasError, TamperedModelError
from .lemmatizer import LemmatizationTransformer
from .model import Model, TrainingReport
from .pipeline import build_pipeline
from .similarity import CosineSimilaritiesEstimator

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
