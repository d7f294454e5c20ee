"""What the request log wrote, read back from its database."""

import sqlalchemy as sa

from api.request_log_db import create_engine, prediction_requests


def logged_rows(url):
    """The logged predictions, oldest first ([] while the log has not made its tables)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(prediction_requests.name):
            rows = []
        else:
            rows = [row._asdict() for row in connection.execute(sa.select(prediction_requests).order_by("id"))]
    engine.dispose()
    return rows
