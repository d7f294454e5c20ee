"""What the request log wrote, read back from its database."""

import sqlalchemy as sa

from api.request_log import create_engine, prediction_requests


def logged_rows(url):
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [row._asdict() for row in connection.execute(sa.select(prediction_requests).order_by("id"))]
    engine.dispose()
    return rows
