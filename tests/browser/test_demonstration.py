"""Writing a demonstration in the browser: the whole conversation, a draft that survives a reload."""
import pytest
from playwright.sync_api import expect

from labeling import workflow
from labeling.models import Demonstration, Prompt, PromptState, Task
from tests.browser.conftest import start

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONVERSATION = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is 2 + 2?"},
    {"role": "assistant", "content": "4."},
    {"role": "user", "content": "And   times 3?"},
]


def test_it_shows_the_conversation_keeps_the_draft_over_a_reload_and_stores_the_demonstration(
        signed_in, project, labeler):
    prompt = Prompt.objects.create(project=project, messages=CONVERSATION)
    workflow.start_prompt(prompt)
    page = signed_in
    start(page, project, "write_demonstration")

    messages = page.locator(".conversation .msg")
    expect(messages).to_have_count(4)
    expect(messages.locator(".role")).to_have_text(["System", "User", "Assistant", "User"])
    expect(messages.nth(3).locator(".text")).to_have_text("And   times 3?")
    assert messages.nth(3).locator(".text").evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"

    answer = "2 + 2 = 4, and\n\n  4 × 3 = 12."
    page.get_by_role("textbox", name="Your response").fill(answer)
    page.reload()
    expect(page.get_by_role("textbox", name="Your response")).to_have_value(answer)
    page.get_by_role("button", name="Submit response").click()

    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    expect(page.get_by_role("link", name="Back to home")).to_have_attribute("href", "/")
    demonstration = Demonstration.objects.get(author=labeler)
    assert demonstration.text == answer and demonstration.prompt == prompt
    assert demonstration.time_spent_ms > 0
    assert Task.objects.get(demonstration=demonstration).state == "submitted"
    prompt.refresh_from_db()
    assert prompt.state == PromptState.AWAITING_CANDIDATES
    # The draft is gone once the work is stored.
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('rankwise:draft:'))") == []
