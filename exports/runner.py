"""Run one export: stream the dataset's query through a server-side cursor into the writers.

The rows are read on a connection of their own, in one read-only REPEATABLE READ transaction, so the row
count used for progress and the rows written come from the same snapshot; Django's own connection stays in
autocommit, so the progress it records is visible to the admin page while the export runs.
"""
from contextlib import contextmanager

import psycopg
from django.db import connection

from exports.datasets import dataset_for
from exports.writers import Output

# Rows fetched from the server per round trip.
FETCH_ROWS = 5_000


class ExportUnsupported(Exception):
    pass


def unsupported_reason():
    """Why exports cannot run on this database (shown before a job is queued), or None."""
    if connection.vendor != "postgresql":
        return (f"Exports need PostgreSQL (they stream from it with server-side cursors); this installation runs "
                f"on {connection.vendor}, the embedded `make run` default. Set DATABASE_URL to a PostgreSQL "
                f"database to export.")
    return None


@contextmanager
def snapshot_connection():
    reason = unsupported_reason()
    if reason:
        raise ExportUnsupported(reason)
    params = connection.get_connection_params()
    with psycopg.connect(**params) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            # Timestamps are written in UTC whatever the server's zone, so exports compare byte for byte.
            conn.execute("SET LOCAL TIME ZONE 'UTC'")
            # A cursor is planned for its first 10% of rows by default; an export reads them all, so plan
            # for the whole result (hash joins, one sort) and give that sort memory instead of temp files.
            conn.execute("SET LOCAL cursor_tuple_fraction = 1.0")
            conn.execute("SET LOCAL work_mem = '256MB'")
            yield conn


def run_export(spec, folder, on_progress=lambda done, total: None):
    """Write the export into `folder`; return (path of the file to download, rows written)."""
    dataset = dataset_for(spec)
    sql, params = dataset.query()
    with snapshot_connection() as conn:
        total = conn.execute(f"SELECT count(*) FROM ({sql}) AS export", params).fetchone()[0]
        on_progress(0, total)
        output = Output(folder, spec.dataset, spec.format, dataset.schema(), spec.split_names)
        done = 0
        with conn.cursor(name="rankwise_export") as cursor:
            cursor.itersize = FETCH_ROWS
            cursor.execute(f"{sql} ORDER BY {dataset.order_by}", params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                output.write_many(dataset.records(conn, rows))
                done += len(rows)
                on_progress(done, total)
    return output.close(), done
