"""docker-compose.yml, .env.example and bin/run-embedded agree with what the code reads and configures.
No Docker engine runs here, so the file itself is checked against the code."""
import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from celery.app.utils import find_app
from django.conf import settings

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ["config", "labeling", "worker", "rewards", "exports"]
ENV_HELPERS = {"env_str", "env_bool", "env_int", "env_list", "getenv", "get"}
# Services that run the Rankwise image (the rest are stock postgres and redis images).
APP_SERVICES = {"migrate", "web", "worker-generation", "worker-training", "worker-default", "beat", "flower"}


def env_vars_read_by_code():
    """Names passed to os.environ.get / os.getenv / os.environ[...] / the config.env helpers."""
    names = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    environ_get = name == "get" and "environ" in ast.unparse(func)
                    if (name in ENV_HELPERS - {"get"} or environ_get) and isinstance(node.args[0].value, str):
                        names.add(node.args[0].value)
                elif isinstance(node, ast.Subscript) and "environ" in ast.unparse(node.value) \
                        and isinstance(node.slice, ast.Constant) and isinstance(node.ctx, ast.Load):
                    names.add(node.slice.value)
    return names


def env_example_vars():
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def compose_text():
    return (ROOT / "docker-compose.yml").read_text()


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(compose_text())


def app_command(compose, service):
    command = compose["services"][service]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def celery_option(command, *flags):
    for i, arg in enumerate(command):
        for flag in flags:
            if arg == flag:
                return command[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def test_it_documents_every_env_var_the_code_reads_and_no_other():
    code = env_vars_read_by_code()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text()))
    documented = env_example_vars()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "RANKWISE_LEASE_MINUTES"} <= code
    assert code - documented == set(), "read by the code but missing from .env.example"
    assert documented - code - interpolated == set(), "in .env.example but read by neither the code nor compose"


def test_it_sets_only_env_vars_the_code_reads(compose):
    code = env_vars_read_by_code()
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert set(service.get("environment") or {}) <= code, name


def test_it_has_a_service_for_each_part(compose):
    assert set(compose["services"]) == APP_SERVICES | {"postgres", "redis"}


def test_it_starts_databases_with_volumes_and_health_checks(compose):
    services = compose["services"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
        volume = services[name]["volumes"][0].split(":")[0]
        assert volume in compose["volumes"], name
    assert "--appendonly" in services["redis"]["command"]
    for name in APP_SERVICES - {"migrate"}:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert app_command(compose, "migrate")[-2:] == ["migrate", "--noinput"]


def test_it_points_celery_at_the_real_app(compose):
    for name in APP_SERVICES - {"migrate", "web"}:
        command = app_command(compose, name)
        assert command[0] == "celery", name
        # Resolved as `celery -A` resolves it (`-A config` finds config.celery.app).
        assert find_app(celery_option(command, "-A", "--app")) is app, name


def test_it_serves_the_real_wsgi_app_with_static_files_from_whitenoise(compose, settings):
    command = app_command(compose, "web")
    assert command[0] == "gunicorn"
    settings.SECRET_KEY = "a-production-like-key-" + "x1y2z3" * 8  # config.wsgi refuses the development key
    module, attr = command[1].split(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert "collectstatic" in (ROOT / "Dockerfile").read_text()


def worker_queues(command):
    return set(celery_option(command, "-Q", "--queues").split(","))


def test_its_workers_consume_exactly_the_configured_queues(compose):
    configured = set(settings.RANKWISE_QUEUES)
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert routed == configured
    consumed = {}
    for name in ("worker-generation", "worker-training", "worker-default"):
        command = app_command(compose, name)
        assert command[3] == "worker"
        consumed[name] = worker_queues(command)
    assert consumed == {"worker-generation": {"generation"}, "worker-training": {"training"},
                        "worker-default": {"default"}}
    embedded = re.search(r"celery -A config worker .*-Q (\S+)", (ROOT / "bin" / "run-embedded").read_text())
    assert set(embedded.group(1).split(",")) == configured


def test_its_gpu_workers_reserve_one_gpu_each_and_run_one_process(compose):
    for name in ("worker-generation", "worker-training"):
        service = compose["services"][name]
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and device["count"] == 1 and "gpu" in device["capabilities"]
        assert celery_option(app_command(compose, name), "--concurrency", "-c") == "1"
    assert "deploy" not in compose["services"]["worker-default"]


def test_its_beat_uses_the_database_scheduler_and_schedules_real_tasks(compose):
    command = app_command(compose, "beat")
    assert command[3] == "beat"
    scheduler = celery_option(command, "--scheduler", "-S")
    assert scheduler == settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    module, _, cls = scheduler.partition(":")
    assert hasattr(importlib.import_module(module), cls)
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
        assert entry["options"]["expires"] < entry["schedule"]


def test_it_runs_the_gpu_safe_celery_settings():
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert settings.RANKWISE_BROKER_VISIBILITY_TIMEOUT > conf.task_time_limit
    generate = app.tasks["worker.generate_candidates"]
    assert generate.soft_time_limit < generate.time_limit < settings.RANKWISE_BROKER_VISIBILITY_TIMEOUT
    assert app.amqp.router.route({}, "worker.generate_candidates")["queue"].name == "generation"
    assert app.amqp.router.route({}, "rewards.train_reward_model")["queue"].name == "training"
    assert app.amqp.router.route({}, "worker.requeue_waiting_prompts")["queue"].name == "default"
