"""Production defaults: a real secret key, `check --deploy` clean, security headers and a CSP on every
page with no inline script, log-in lock-out, token auth for scripts and no HTTP Basic."""
import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.conftest import add_ready_prompt

ROOT = Path(__file__).resolve().parents[2]


def django_process(code_or_args, **env):
    # A production process's environment: none of the test run's own settings, such as the async-safety
    # switch the browser tests set for Playwright (check --deploy rightly refuses it).
    ignored = ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "RANKWISE_HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if k not in ignored}
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("key", [None, "rankwise-insecure-development-key", "short"])
def test_a_server_with_debug_off_refuses_a_missing_or_development_key(key):
    env = {"DJANGO_SECRET_KEY": key} if key else {}
    result = django_process("import config.wsgi", **env)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_a_server_starts_with_a_real_key_or_in_debug():
    assert django_process("import config.wsgi", DJANGO_SECRET_KEY=secrets.token_urlsafe(50)).returncode == 0
    assert django_process("import config.wsgi", DJANGO_DEBUG="1").returncode == 0


def test_a_worker_refuses_the_development_key():
    result = django_process("from celery.signals import worker_init; import config.celery; worker_init.send(sender=None)")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_with_the_production_settings():
    result = django_process(["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            DJANGO_SECRET_KEY=secrets.token_urlsafe(50), RANKWISE_HTTPS="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.fixture
def logged_in(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def pages(project):
    return ["/", "/accounts/login/", f"/projects/{project.pk}/work/rank/", "/admin/", "/admin/labeling/project/",
            "/api/docs/", "/api/projects/", f"/projects/{project.pk}/dashboard/", "/no/such/page/",
            "/admin/exports/exportjob/"]


def test_every_page_sends_the_security_headers(logged_in, project):
    for url in pages(project):
        response = logged_in.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Referrer-Policy"] == "same-origin", url
        assert response.headers["X-Frame-Options"] == "DENY", url


def test_no_page_has_an_inline_script(logged_in, project):
    add_ready_prompt(project)
    for url in pages(project):
        html = logged_in.get(url).content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"\son[a-z]+=\"", html), url  # no onclick= style handlers either


def test_the_404_and_403_pages_look_like_the_site(labeler, project):
    client = Client()
    client.force_login(labeler)
    missing = client.get("/no/such/page/")
    assert missing.status_code == 404 and 'class="topbar"' in missing.content.decode()
    assert "home page" in missing.content.decode()
    forbidden = client.get(f"/projects/{project.pk}/dashboard/")
    assert forbidden.status_code == 403 and 'class="topbar"' in forbidden.content.decode()
    assert "ask a project admin" in forbidden.content.decode()


def login(client, username, password, address):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_password_guessing_locks_the_account_after_five_tries(labeler):
    client = Client()
    for _ in range(4):
        assert login(client, "labeler1", "wrong", "10.0.0.1").status_code == 200  # the form, with an error
    assert login(client, "labeler1", "wrong", "10.0.0.1").status_code == 429  # the fifth failure locks
    # Even the right password, from another address, is refused while the account is locked.
    response = login(client, "labeler1", "pw-labeler1", "10.0.0.2")
    assert response.status_code == 429 and "Too many failed log-ins" in response.content.decode()


def test_one_address_guessing_many_accounts_is_locked_out(labeler, other_labeler):
    client = Client()
    for i in range(5):
        login(client, f"nobody{i}", "wrong", "10.0.0.9")
    assert login(client, "labeler2", "pw-labeler2", "10.0.0.9").status_code == 429
    assert login(client, "labeler2", "pw-labeler2", "10.0.0.10").status_code == 302  # other addresses log in


def test_scripts_use_tokens_and_basic_auth_is_off(labeler):
    token = Token.objects.create(user=labeler)
    client = Client()
    assert client.get("/api/tasks/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    basic = base64.b64encode(b"labeler1:pw-labeler1").decode()
    assert client.get("/api/tasks/", HTTP_AUTHORIZATION=f"Basic {basic}").status_code in (401, 403)
