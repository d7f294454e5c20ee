"""Entry point for gunicorn (``wsgi:app``): the API with the configured model."""

import sys

from api import create_app
from text_similarity_model import PalestrasError

try:
    app = create_app()
except PalestrasError as error:  # one clear line, not a traceback or a restart loop
    sys.exit(f"error: {error}")
