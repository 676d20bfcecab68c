"""The PostgreSQL database a benchmark runs on, dropped and made again at the start of a run so that every
run starts from the same empty schema. Each benchmark names its own database, so two can run at once."""
import os
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name):
    return f"postgres://rankwise@127.0.0.1:5432/{name}"


def fresh_database(name, env=None, admin_dsn=ADMIN_DSN, commands=(["migrate", "--noinput", "-v", "0"],)):
    """Drop database `name` and create it for the app's role, then run each manage.py command (by default
    migrate) in a subprocess with `env` (default: this process's environment), whose DATABASE_URL names it."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" OWNER rankwise')
    for command in commands:
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env or os.environ, check=True,
                       capture_output=True)
