"""Browser fixtures: Debian's headless Chromium driven by Playwright against pytest-django's live server.

Playwright's sync API runs an asyncio event loop in the test thread, and Django refuses ORM calls from a
thread with a running loop; the tests make their ORM calls between browser steps, never concurrently."""
import os

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Each test creates a user and logs in through the form; the default hasher costs a second each time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="package")
def _launched():
    """One Playwright driver and one Chromium for the browser tests: starting them takes seconds, and a
    fresh browser context per test (see `page`) keeps tests apart. Package scope stops the driver's event
    loop before the other test folders run."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browsers = {}
    yield playwright, browsers
    for browser in browsers.values():
        browser.close()
    playwright.stop()


@pytest.fixture
def browser(chromium_path, _launched):
    playwright, browsers = _launched
    if chromium_path not in browsers:
        browsers[chromium_path] = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    return browsers[chromium_path]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    # A JavaScript exception is a bug even when the test's own checks happened to pass.
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page, user):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("pw-" + user.username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def start(page, project, kind):
    """From the home page, press the project's Start button for `kind` and wait for the task (or the
    empty message) to be rendered."""
    page.goto("/")
    page.locator(f'[data-project="{project.pk}"] [data-start="{kind}"]').click()
    page.wait_for_url(f"**/projects/{project.pk}/work/{kind}/")
    page.wait_for_selector('#task:not([data-state="loading"])')


def task_id(page):
    return page.locator("#task").get_attribute("data-task-id")


def wait_for_next_task(page, previous_id):
    page.wait_for_function(
        "prev => { const t = document.getElementById('task');"
        " return t.dataset.state !== 'loading' && t.dataset.taskId !== prev; }", arg=str(previous_id))


@pytest.fixture
def signed_in(page, labeler):
    log_in(page, labeler)
    return page
