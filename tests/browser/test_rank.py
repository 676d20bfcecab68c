"""Ranking in the browser: by keyboard only, by drag and drop with a tie, drafts, and escaping."""
import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, Task, TaskKind
from tests.browser.conftest import start, task_id
from tests.conftest import add_ready_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<script>window.__xss=1</script><b>bold</b>"


@pytest.fixture
def rank_prompt(project):
    return add_ready_prompt(project, "Explain photosynthesis to a child.", candidates=[
        "Plants eat sunlight.\nThey turn it into sugar.",
        "Photosynthesis is when plants use light, water and air to make food.",
        "I don't know.",
        "Leaves are like tiny kitchens:\n  1. catch light\n  2. mix water and CO2\n  3. make sugar",
    ])


def shown_order(page):
    return [int(c) for c in page.locator(".board .cand").evaluate_all("cs => cs.map(c => c.dataset.candidate)")]


def focused_candidate(page):
    return page.evaluate("document.activeElement.dataset.candidate || null")


def stored(ranking):
    return {r.candidate_id: (r.tier, r.likert, r.flags) for r in ranking.ratings.all()}


def test_it_ranks_by_keyboard_only(signed_in, project, labeler, rank_prompt):
    page = signed_in
    page.goto(f"/projects/{project.pk}/work/rank/")
    page.wait_for_selector(".board.rate .cand")
    a, b, c, d = order = shown_order(page)
    assert order == Task.objects.get(labeler=labeler, kind=TaskKind.RANK).display_order
    # The flag letters are shown next to each flag.
    expect(page.locator(f'.cand[data-candidate="{a}"] .flag kbd')).to_have_count(11)

    # Step 1: the first card has focus; digits rate, letters toggle flags, arrows and Tab move.
    assert focused_candidate(page) == str(a)
    page.keyboard.press("6")
    page.keyboard.press("f")
    page.keyboard.press("h")
    page.keyboard.press("h")  # toggled off again
    page.keyboard.press("ArrowDown")
    assert focused_candidate(page) == str(b)
    page.keyboard.press("3")
    page.keyboard.press("Tab")
    assert focused_candidate(page) == str(c)
    page.keyboard.press("Enter")  # not all rated yet: stays on step 1 and says why
    expect(page.locator(".step-note")).to_contain_text("has no rating yet")
    page.keyboard.press("7")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    page.keyboard.press("a")
    page.keyboard.press("o")
    expect(page.locator(f'.cand[data-candidate="{d}"] .cand-status')).to_have_text("Rated 2/7 · 2 flags")
    page.keyboard.press("Enter")

    # Step 2: digits put the focused card in a tier; the same digit twice is a tie.
    page.wait_for_selector(".board.rank")
    assert focused_candidate(page) == str(a)
    for key in ("2", "ArrowDown", "4", "ArrowDown", "1", "ArrowDown", "2"):
        page.keyboard.press(key)
    expect(page.locator('.tier[data-tier="2"] .cand')).to_have_count(2)
    assert focused_candidate(page) == str(d)
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    ranking = Ranking.objects.get(labeler=labeler)
    assert ranking.display_order == order and ranking.time_spent_ms > 0
    # Tiers are stored dense: 1, 2, 4 become 1, 2, 3, and A and D stay tied.
    assert stored(ranking) == {
        a: (2, 6, ["fails_instruction"]),
        b: (3, 3, []),
        c: (1, 7, []),
        d: (2, 2, ["expresses_opinion", "harmful_advice"]),
    }
    assert sorted(ranking.comparisons()) == sorted([(c, a), (c, b), (c, d), (a, b), (d, b)])


def test_it_ranks_by_drag_and_drop_with_a_tie(signed_in, project, labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    first = task_id(page)
    a, b, c, d = order = shown_order(page)
    for candidate, likert in ((a, 5), (b, 5), (c, 2), (d, 6)):
        page.locator(f'.cand[data-candidate="{candidate}"]').get_by_role("button", name=f"Rate {likert}").click()
    page.locator(f'.cand[data-candidate="{c}"]').get_by_text("Hallucination (makes up facts)").click()
    page.screenshot(path="/tmp/rankwise-rate-step.png", full_page=True)
    page.get_by_role("button", name="Continue to ranking").click()

    def drop(candidate, tier):
        page.locator(f'.cand[data-candidate="{candidate}"]').drag_to(page.locator(f'.tier[data-tier="{tier}"]'))

    drop(d, 1)
    drop(a, 2)
    drop(b, 2)
    drop(c, 4)
    drop(c, 0)  # back to the pool, then to its final tier
    expect(page.locator('.tier[data-tier="0"] .cand')).to_have_count(1)
    drop(c, 3)
    expect(page.locator('.tier[data-tier="2"] .cand')).to_have_count(2)
    expect(page.locator(f'.cand[data-candidate="{a}"] .cand-status')).to_have_text("Tier 2 (tie)")
    page.screenshot(path="/tmp/rankwise-rank-step.png", full_page=True)
    page.get_by_role("button", name="Submit ranking").click()

    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    ranking = Ranking.objects.get(labeler=labeler, task_id=int(first))
    assert ranking.display_order == order and ranking.time_spent_ms > 0
    assert stored(ranking) == {a: (2, 5, []), b: (2, 5, []), c: (3, 2, ["hallucination"]), d: (1, 6, [])}


def test_a_reload_mid_task_restores_ratings_flags_and_tiers(signed_in, project, labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    first = task_id(page)
    a, b, c, d = shown_order(page)
    for key in ("4", "v", "ArrowDown", "5", "ArrowDown", "6", "ArrowDown", "7", "Enter", "3"):
        page.keyboard.press(key)
    expect(page.locator('.tier[data-tier="3"] .cand')).to_have_count(1)

    page.reload()
    page.wait_for_selector(".board.rank")
    assert task_id(page) == first
    expect(page.locator(f'.tier[data-tier="3"] .cand[data-candidate="{a}"]')).to_be_visible()
    expect(page.locator(".tier.pool .cand")).to_have_count(3)
    page.get_by_role("button", name="← Back to rating").click()
    card = page.locator(f'.cand[data-candidate="{a}"]')
    expect(card.get_by_role("button", name="Rate 4")).to_have_attribute("aria-pressed", "true")
    expect(card.get_by_role("checkbox", name="Contains violent content")).to_be_checked()
    expect(page.locator(f'.cand[data-candidate="{d}"]').get_by_role("button", name="Rate 7")).to_have_attribute(
        "aria-pressed", "true")


def test_model_text_is_shown_as_literal_text_never_as_html(signed_in, project, labeler):
    project.k = 2
    project.save()
    add_ready_prompt(project, XSS, candidates=[XSS, "plain answer"])
    page = signed_in
    start(page, project, "rank")
    cards = page.locator(".board .cand")
    expect(cards).to_have_count(2)
    expect(page.locator(".board .cand .text", has_text="<script>")).to_have_text(XSS)
    expect(page.locator(".conversation .text")).to_have_text(XSS)
    assert page.locator(".task b, .task script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
