"""Model instances from raw SQL rows, for the few hot statements written in SQL (the claim that reads what it
leased, the upsert that returns the new sums): the values converted as the ORM converts them, without a
RawQuerySet's set-up on every call."""
from django.db import connection


def select_list(model, alias):
    """Every concrete column of `model`, in field order, qualified by `alias`: what from_row reads."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def from_row(model, values):
    """An instance of `model` from the values of select_list's columns."""
    converted = []
    for field, value in zip(model._meta.concrete_fields, values):
        for converter in field.get_db_converters(connection):
            value = converter(value, None, connection)
        converted.append(value)
    return model.from_db(connection.alias, None, converted)


def from_cursor(model, cursor):
    """Instances of `model` from the rows `cursor` returned with every concrete column, in the table's own
    column order (RETURNING *)."""
    position = {column.name: i for i, column in enumerate(cursor.description)}
    order = [position[field.column] for field in model._meta.concrete_fields]
    return [from_row(model, [row[i] for i in order]) for row in cursor.fetchall()]
