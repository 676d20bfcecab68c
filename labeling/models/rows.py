"""Model instances from raw SQL rows, for the few hot statements written in SQL (the claim that reads what it
leased, the locks a submit takes, the upsert that returns the new sums): the values converted as the ORM
converts them, without a RawQuerySet's or a compiler's set-up on every call."""
import functools

from django.db import connection


def select_list(model, alias):
    """Every concrete column of `model`, in field order, qualified by `alias`: what from_row reads."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@functools.cache
def _converters(model):
    """(position, the field's converters) for each of `model`'s concrete fields that has any (a JSON field's
    decoding, say): looked up once per process, not per value."""
    found = [(i, field.get_db_converters(connection)) for i, field in enumerate(model._meta.concrete_fields)]
    return [(i, converters) for i, converters in found if converters]


def from_row(model, values):
    """An instance of `model` from the values of select_list's columns."""
    values = list(values)
    for i, converters in _converters(model):
        for converter in converters:
            values[i] = converter(values[i], None, connection)
    return model.from_db(connection.alias, None, values)


def from_joined_row(models, row):
    """One instance per model of `models` from a row of their select_lists side by side; None for a model
    whose primary key is NULL (an outer join that found no row)."""
    instances, start = [], 0
    for model in models:
        width = len(model._meta.concrete_fields)
        values = row[start:start + width]
        start += width
        instances.append(None if values[0] is None else from_row(model, values))
    return instances


def from_cursor(model, cursor):
    """Instances of `model` from the rows `cursor` returned with every concrete column, in the table's own
    column order (RETURNING *)."""
    position = {column.name: i for i, column in enumerate(cursor.description)}
    order = [position[field.column] for field in model._meta.concrete_fields]
    return [from_row(model, [row[i] for i in order]) for row in cursor.fetchall()]
