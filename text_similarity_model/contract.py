"""What the scraper, the model, the API and the command line agree on.

The talks CSV's columns (the scraper writes them, ``data.py`` reads them),
the columns answers can be filtered by and how many talks an answer has by
default. Nothing is imported here, so the scraper reads it without loading
pandas, spaCy or scikit-learn.
"""

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

#: How many past talks the review of a call for papers gives each submission
#: unless asked for another number (``review.py``, ``text_similarity_model review``).
N_RELATED = 5

#: The column the quality figures take as relevance: a related talk is
#: relevant to its query when it has the query's track (``evaluate``, the
#: check before promotion).
LABEL = "trilha"
