"""The server's random draws: which lease gets a gold prompt and which one, which rankings are sampled for
review, the order a labeler sees the candidates in, a writing task's use case. One generator, seeded from
settings.RANKWISE_RANDOM_SEED when that is set (a benchmark replays the same run), from the operating
system otherwise.

Draws made in SQL take a salt from this generator and order rows by a hash of (row id, salt), instead of
PostgreSQL's random(), which no setting here could seed."""
import random

from django.conf import settings
from django.db.models import CharField, Value
from django.db.models.functions import MD5, Cast, Concat

draws = random.Random(settings.RANKWISE_RANDOM_SEED)


def _salt():
    return f"{draws.getrandbits(64):016x}"


def shuffled(column):
    """An ORDER BY expression putting rows in a random order (a fresh one per call)."""
    return MD5(Concat(Cast(column, CharField()), Value(_salt())))


def sql_shuffled(column):
    """shuffled() for raw SQL: (the expression, its one parameter). Django gives SQLite an MD5 function too."""
    return f"MD5(CAST({column} AS TEXT) || %s)", _salt()
