"""Writing prompts in the browser: plain, few-shot and use-case forms, errors, and the next task."""
import pytest
from playwright.sync_api import expect

from labeling.models import Prompt, PromptKind, PromptSource, Task
from tests.browser.conftest import start, task_id, wait_for_next_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_writes_a_plain_prompt_and_shows_the_next_task_without_a_click(signed_in, project, labeler):
    page = signed_in
    page.goto("/")
    page.screenshot(path="/tmp/rankwise-home.png", full_page=True)
    start(page, project, "write_prompt")
    first = task_id(page)
    expect(page.locator("#guidelines-body strong")).to_have_text("kind")
    text = "List three party ideas:\n  - for kids\n  - for adults"
    page.get_by_role("textbox", name="Prompt").fill(text)
    expect(page.locator("#timer")).not_to_have_text("0:00", timeout=3000)
    page.get_by_role("button", name="Submit prompt").click()

    wait_for_next_task(page, first)
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value("")
    prompt = Prompt.objects.get(author=labeler)
    assert prompt.messages == [{"role": "user", "content": text}]
    assert prompt.kind == PromptKind.PLAIN and prompt.source == PromptSource.LABELER
    assert Task.objects.get(pk=first).time_spent_ms > 1000


def test_it_writes_a_few_shot_prompt_with_added_and_removed_examples(signed_in, project, labeler):
    page = signed_in
    start(page, project, "write_prompt")
    first = task_id(page)
    page.get_by_role("radio", name="Few-shot").check()
    page.get_by_role("button", name="Submit prompt").click()
    # The 400 names the fields; each message shows under its own field.
    expect(page.locator('[data-field="instruction"] + .field-error')).to_contain_text("may not be blank")
    expect(page.locator('[data-field="examples.1.response"] + .field-error')).to_contain_text("may not be blank")

    page.get_by_role("textbox", name="Instruction").fill("Classify the sentiment.")
    expect(page.locator('[data-field="instruction"] + .field-error')).to_have_count(0)
    queries, responses = page.get_by_role("textbox", name="Query"), page.get_by_role("textbox", name="Response")
    queries.nth(0).fill("I love it")
    responses.nth(0).fill("positive")
    queries.nth(1).fill("to be removed")
    page.get_by_role("button", name="+ Add example").click()
    expect(queries).to_have_count(3)
    expect(queries.nth(2)).to_be_focused()
    page.keyboard.type("It broke on day one")
    responses.nth(2).fill("negative")
    page.get_by_role("button", name="Remove example 2").click()
    expect(queries).to_have_count(2)
    page.screenshot(path="/tmp/rankwise-few-shot.png", full_page=True)
    preview = page.locator("pre.preview").text_content()
    responses.nth(1).press("Control+Enter")

    wait_for_next_task(page, first)
    prompt = Prompt.objects.get(author=labeler)
    # The preview showed exactly the message stored (the server's templates, filled in on the page).
    assert prompt.messages == [{"role": "user", "content": preview}]
    assert preview == "Classify the sentiment.\n\nQuery: I love it\nResponse: positive\n\n" \
        "Query: It broke on day one\nResponse: negative"
    assert prompt.kind == PromptKind.FEW_SHOT
    assert prompt.few_shot == {"instruction": "Classify the sentiment.", "examples": [
        {"query": "I love it", "response": "positive"}, {"query": "It broke on day one", "response": "negative"}]}


def test_it_writes_a_prompt_from_the_use_case_it_shows(signed_in, project, labeler):
    page = signed_in
    start(page, project, "write_prompt")
    first = task_id(page)
    page.get_by_role("radio", name="Use case").check()
    expect(page.locator(".use-case-text")).to_have_text("Brainstorming")
    page.get_by_role("textbox", name="Prompt").fill("Give me ten names for a bakery.")
    page.get_by_role("button", name="Submit prompt").click()

    wait_for_next_task(page, first)
    prompt = Prompt.objects.get(author=labeler)
    assert prompt.kind == PromptKind.USE_CASE and prompt.use_case == "Brainstorming"
    assert prompt.text == "Give me ten names for a bakery."
