"""Amending a ranking in the browser, by keyboard: from the link shown right after submitting and from the
labeler's history page; what is stored afterwards; and no way to it once the window has passed."""
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from labeling.models import Ranking
from tests.browser.test_rank import ranking_shown, shown_order, stored
from tests.conftest import add_ready_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_prompts(project):
    return [add_ready_prompt(project, f"Question {n}", [f"Answer {n}.{i}" for i in range(project.k)])
            for n in range(2)]


def rate_and_submit(page, scores):
    page.wait_for_selector(".responses .resp")
    for score in scores:
        page.keyboard.press(str(score))
    page.keyboard.press("Enter")


def test_it_amends_the_ranking_just_submitted_by_keyboard(signed_in, project, labeler, two_prompts):
    page = signed_in
    page.goto(f"/projects/{project.pk}/work/rank/")
    page.wait_for_selector(".responses .resp")
    a, b, c, d = shown_order(page)
    first_task = page.locator("#task").get_attribute("data-task-id")
    rate_and_submit(page, [7, 5, 3, 1])
    page.wait_for_function("prev => document.getElementById('task').dataset.taskId !== prev", arg=first_task)

    # The header offers the amendment; it is a link, so Tab reaches it and Enter follows it.
    offer = page.get_by_role("link", name="Amend the last ranking")
    expect(offer).to_be_visible()
    offer.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/history/{first_task}/amend/")
    page.wait_for_selector(".responses .resp")
    # The page shows the ranking as stored, in the order it was shown, and starts on the ranking.
    assert shown_order(page) == [a, b, c, d]
    assert ranking_shown(page) == [["A"], ["B"], ["C"], ["D"]]
    expect(page.get_by_role("link", name="Amend the last ranking")).to_be_hidden()
    expect(page.locator(".skip")).to_have_count(0)
    page.keyboard.press("d")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert ranking_shown(page) == [["A"], ["D"], ["B"], ["C"]]
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Your ranking is amended")).to_be_visible()
    ranking = Ranking.objects.get(task_id=int(first_task))
    assert stored(ranking) == {a: (1, 7, []), b: (3, 5, []), c: (4, 3, []), d: (2, 1, [])}
    assert ranking.amended_at is not None
    assert Ranking.objects.filter(labeler=labeler).count() == 1  # the amendment stored no second ranking


def test_the_history_page_offers_amendment_only_within_the_window(signed_in, project, labeler, two_prompts):
    page = signed_in
    page.goto(f"/projects/{project.pk}/work/rank/")
    page.wait_for_selector(".responses .resp")
    a, b, c, d = shown_order(page)
    first_task = page.locator("#task").get_attribute("data-task-id")
    rate_and_submit(page, [2, 4, 6, 6])
    page.wait_for_function("prev => document.getElementById('task').dataset.taskId !== prev", arg=first_task)

    page.goto("/history/")
    link = page.locator(f'[data-amend="{first_task}"]')
    expect(link).to_have_text("Amend")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".responses .resp")
    assert ranking_shown(page) == [["C", "D"], ["B"], ["A"]]
    # Re-rating a response keeps the stored order except where the new score puts it.
    page.locator(f'.resp[data-candidate="{a}"]').focus()
    page.keyboard.press("7")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your ranking is amended")).to_be_visible()
    assert stored(Ranking.objects.get(task_id=int(first_task))) == {
        a: (1, 7, []), b: (3, 4, []), c: (2, 6, []), d: (2, 6, [])}

    Ranking.objects.filter(task_id=int(first_task)).update(created_at=timezone.now() - timedelta(minutes=6))
    page.goto("/history/")
    expect(page.locator(f'tr[data-task="{first_task}"] [data-amended]')).to_have_text("(amended)")
    expect(page.locator("[data-amend]")).to_have_count(0)
    # The amend page itself says why, and changes nothing.
    page.goto(f"/history/{first_task}/amend/")
    expect(page.get_by_role("heading", name="This ranking cannot be amended")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("5 minutes")
