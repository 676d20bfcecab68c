"""Skipping or reporting a task in the browser."""
import pytest
from playwright.sync_api import expect

from labeling.models import SkipReason, Task, TaskKind, TaskState
from tests.browser.conftest import start, task_id, wait_for_next_task
from tests.conftest import add_ready_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_skips_with_a_reason_and_a_note_then_shows_the_next_task(signed_in, project, labeler):
    add_ready_prompt(project, "first prompt")
    add_ready_prompt(project, "second prompt")
    page = signed_in
    start(page, project, "rank")
    first = task_id(page)
    expect(page.locator(".prompt-bar")).to_contain_text("first prompt")

    page.get_by_text("Skip or report this task").click()
    page.get_by_role("button", name="Skip this task").click()
    expect(page.locator(".skip-form .field-error")).to_have_text("Choose a reason.")
    page.get_by_role("radio", name="Harmful").check()
    page.get_by_role("textbox", name="Note (optional)").fill("asks for <b>weapons</b>")
    page.get_by_role("button", name="Skip this task").click()

    wait_for_next_task(page, first)
    expect(page.locator(".prompt-bar")).to_contain_text("second prompt")
    skipped = Task.objects.get(pk=first)
    assert skipped.state == TaskState.SKIPPED and skipped.kind == TaskKind.RANK
    assert skipped.skip_reason == SkipReason.HARMFUL and skipped.skip_note == "asks for <b>weapons</b>"
