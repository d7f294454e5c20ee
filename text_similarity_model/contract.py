"""What the scraper, the model, the API and the command line agree on.

The talks CSV's columns (the scraper writes them, ``corpus.py`` reads them),
the columns answers can be filtered by, how many talks an answer has, and
what the quality figures count.
Only the standard library is imported here, so the scraper reads it without
loading pandas, spaCy or scikit-learn.
"""

from numbers import Integral

#: Columns of the talks CSV, in the order the scraper writes them; only the
#: ``TEXT_COLUMNS`` are required to train.
TALK_COLUMNS = ("title", "description", "trilha", "ano", "cidade", "trilha_url")

#: A talk's text, what talks are compared by (one of the two may be empty).
TEXT_COLUMNS = ("title", "description")

#: Corpus columns predictions can be filtered by (``Model.facets()`` lists their values).
FILTER_COLUMNS = ("ano", "cidade", "trilha")

#: How many talks ``Model.predict``/``related``, the API and the command line
#: answer with unless asked for another number.
N_RESULTS = 3

#: The most talks an answer of the API may have (a request's cost is bounded;
#: the model and the command line take any number).
MAX_RESULTS = 50

#: How many past talks the review of a call for papers gives each submission
#: unless asked for another number (``review/``, ``text_similarity_model review``, ``POST /review``).
N_RELATED = 5

#: The column the quality figures take as relevance: a related talk is
#: relevant to its query when it has the query's track (``evaluate``, the
#: check before promotion).
LABEL = "trilha"

#: The cut-off of precision@k and nDCG@k unless told otherwise: docs/quality.md's
#: quality figures, what the tuning ranks by and the check before a promotion.
DEFAULT_K = 5

#: How deep the reciprocal rank looks for the first relevant talk (and the largest ``--k``).
RANKING_DEPTH = 50


def n_results_problem(value, maximum: int | None = None) -> str | None:
    """The one rule for how many talks an answer has: a whole number from 1,
    up to ``maximum`` where one is given. None when ``value`` keeps it, else
    what is wrong, e.g. ``"Must be between 1 and 50"``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        return "Must be a whole number"
    if maximum is not None and not 1 <= value <= maximum:
        return f"Must be between 1 and {maximum}"
    if value < 1:
        return "Must be at least 1"
    return None


def check_n_results(value, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if :func:`n_results_problem` finds nothing; else ValueError naming it."""
    problem = n_results_problem(value, maximum)
    if problem:
        raise ValueError(f"n_results: {problem} (got {value!r})")
    return int(value)
