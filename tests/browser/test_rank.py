"""Ranking in the browser: what a labeler sees and what is stored, by keyboard only, by drag and drop, by
tapping, on a phone; drafts; and escaping of model text."""
import pytest
from playwright.sync_api import expect

from labeling.models import Ranking, Task, TaskKind
from tests.browser.conftest import log_in, start, task_id, wait_for_next_task
from tests.conftest import add_ready_prompt

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<script>window.__xss=1</script><b>bold</b>"
CODE = "Use this:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\n- one\n- **two**"


@pytest.fixture
def rank_prompt(project):
    return add_ready_prompt(project, "Explain photosynthesis to a child.", candidates=[
        "Plants eat sunlight.\nThey turn it into sugar.",
        "Photosynthesis is when plants use light, water and air to make food.",
        "I don't know.",
        CODE,
    ])


def shown_order(page):
    return [int(c) for c in page.locator(".responses .resp").evaluate_all("cs => cs.map(c => c.dataset.candidate)")]


def focused_candidate(page):
    return page.evaluate("document.activeElement.dataset.candidate || null")


def ranking_shown(page):
    """The ranking as the labeler sees it: one list of letters per tier, best first."""
    return page.locator(".tiers .tier").evaluate_all(
        "ts => ts.map(t => [...t.querySelectorAll('.rank-item .letter')].map(l => l.textContent))")


def stored(ranking):
    return {r.candidate_id: (r.tier, r.likert, r.flags) for r in ranking.ratings.all()}


def test_it_ranks_by_keyboard_only_starting_from_the_ratings(signed_in, project, labeler, rank_prompt):
    page = signed_in
    page.goto(f"/projects/{project.pk}/work/rank/")
    page.wait_for_selector(".responses .resp")
    a, b, c, d = order = shown_order(page)
    assert order == Task.objects.get(labeler=labeler, kind=TaskKind.RANK).display_order

    # The first response has focus; a digit rates it and moves on to the next by itself.
    assert focused_candidate(page) == str(a)
    page.keyboard.press("6")
    assert focused_candidate(page) == str(b)
    expect(page.locator(f'.resp[data-candidate="{a}"] .resp-status')).to_have_text("#1")
    # F opens the flags of the focused response; their letters toggle them; Escape closes them.
    page.keyboard.press("f")
    expect(page.locator(f'.resp[data-candidate="{b}"] .flag-list')).to_be_visible()
    expect(page.locator(".resp .flag-list:visible kbd")).to_have_count(11)
    page.keyboard.press("h")
    page.keyboard.press("a")
    page.keyboard.press("a")  # toggled off again
    page.keyboard.press("Escape")
    expect(page.locator(f'.resp[data-candidate="{b}"] .flag-chips')).to_have_text("Hallucination (makes up facts)")
    page.keyboard.press("3")
    page.keyboard.press("Enter")  # C and D have no rating yet: Enter says so and goes to C
    expect(page.locator(".step-note")).to_have_text("2 of 4 to rate.")
    assert focused_candidate(page) == str(c)
    page.keyboard.press("6")
    page.keyboard.press("2")

    # All rated: the ranking is the ratings' order, equal scores tied, and focus is on its first response.
    assert ranking_shown(page) == [["A", "C"], ["B"], ["D"]]
    assert focused_candidate(page) == str(a)
    # A letter picks a response; arrows move it; Shift+arrow ties it; U undoes.
    page.keyboard.press("d")
    page.keyboard.press("ArrowUp")
    assert ranking_shown(page) == [["A", "C"], ["D"], ["B"]]
    page.keyboard.press("Shift+ArrowUp")
    assert ranking_shown(page) == [["A", "C", "D"], ["B"]]
    page.keyboard.press("u")
    assert ranking_shown(page) == [["A", "C"], ["D"], ["B"]]
    page.keyboard.press("c")
    page.keyboard.press("ArrowUp")  # out of the tie, above A
    assert ranking_shown(page) == [["C"], ["A"], ["D"], ["B"]]
    expect(page.locator(".step-note")).to_have_text("Ready: press Enter to submit.")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    ranking = Ranking.objects.get(labeler=labeler)
    assert ranking.display_order == order and ranking.time_spent_ms > 0
    assert stored(ranking) == {
        a: (2, 6, []),
        b: (4, 3, ["hallucination"]),
        c: (1, 6, []),
        d: (3, 2, []),
    }


def test_it_ranks_by_clicks_and_drag_and_drop_with_a_tie(signed_in, project, labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    first = task_id(page)
    a, b, c, d = order = shown_order(page)
    for candidate, likert in ((a, 5), (b, 4), (c, 2), (d, 6)):
        page.locator(f'.resp[data-candidate="{candidate}"]').get_by_role("button", name=f"Rate {likert}").click()
    page.locator(f'.resp[data-candidate="{c}"]').get_by_role("button", name="Flags").click()
    page.locator(f'.resp[data-candidate="{c}"]').get_by_text("Contains violent content").click()
    assert ranking_shown(page) == [["D"], ["A"], ["B"], ["C"]]

    def item(candidate):
        return page.locator(f'.rank-item[data-candidate="{candidate}"]')

    item(b).drag_to(item(a))  # dropped on A's tier: tied with A
    assert ranking_shown(page) == [["D"], ["A", "B"], ["C"]]
    item(c).drag_to(page.locator(".tiers .gap").first)  # dropped before the first tier: best
    assert ranking_shown(page) == [["C"], ["D"], ["A", "B"]]
    page.get_by_role("button", name="Undo").click()
    assert ranking_shown(page) == [["D"], ["A", "B"], ["C"]]
    expect(page.locator(f'.resp[data-candidate="{a}"] .resp-status')).to_have_text("#2 tie")
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    ranking = Ranking.objects.get(labeler=labeler, task_id=int(first))
    assert ranking.display_order == order
    assert stored(ranking) == {a: (2, 5, []), b: (2, 4, []), c: (3, 2, ["violent_content"]), d: (1, 6, [])}


def test_tap_to_rank_best_first(signed_in, project, labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    a, b, c, d = shown_order(page)
    for candidate in (a, b, c, d):
        page.locator(f'.resp[data-candidate="{candidate}"]').get_by_role("button", name="Rate 4").click()
    assert ranking_shown(page) == [["A", "B", "C", "D"]]
    page.get_by_role("button", name="Tap to rank").click()
    expect(page.locator(".pool .rank-item")).to_have_count(4)
    for candidate in (c, a, d, b):
        page.locator(f'.resp[data-candidate="{candidate}"] .resp-body').click()
    assert ranking_shown(page) == [["C"], ["A"], ["D"], ["B"]]
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    assert {cid: tier for cid, (tier, _, _) in stored(Ranking.objects.get(labeler=labeler)).items()} == {
        c: 1, a: 2, d: 3, b: 4}


def test_a_reload_mid_task_restores_ratings_flags_and_the_hand_made_order(signed_in, project, labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    first = task_id(page)
    a, b, c, d = shown_order(page)
    for key in ("f", "v", "Escape", "4", "5", "6", "7", "a", "ArrowUp"):
        page.keyboard.press(key)
    assert ranking_shown(page) == [["D"], ["C"], ["A"], ["B"]]

    page.reload()
    page.wait_for_selector(".responses .resp")
    assert task_id(page) == first
    assert ranking_shown(page) == [["D"], ["C"], ["A"], ["B"]]
    card = page.locator(f'.resp[data-candidate="{a}"]')
    expect(card.get_by_role("button", name="Rate 4")).to_have_attribute("aria-pressed", "true")
    expect(card.locator(".flag-chips")).to_have_text("Contains violent content")
    expect(page.locator(f'.resp[data-candidate="{d}"]').get_by_role("button", name="Rate 7")).to_have_attribute(
        "aria-pressed", "true")


def test_responses_are_rendered_markdown_with_highlighted_code_and_raw_text_one_key_away(
        signed_in, project, labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    column = page.locator(".resp", has=page.locator("pre.raw", has_text="def add"))
    expect(column.locator(".md pre.highlight .k", has_text="def")).to_be_visible()
    expect(column.locator(".md li strong")).to_have_text("two")
    expect(column.locator("pre.raw")).to_be_hidden()
    column.focus()
    page.keyboard.press("r")
    expect(column.locator("pre.raw")).to_be_visible()
    expect(column.locator("pre.raw")).to_have_text(CODE)
    expect(column.locator(".md")).to_be_hidden()


def test_model_text_is_escaped_never_run_as_html(signed_in, project, labeler):
    project.k = 2
    project.save()
    add_ready_prompt(project, XSS, candidates=[XSS, "plain answer"])
    page = signed_in
    start(page, project, "rank")
    expect(page.locator(".responses .resp")).to_have_count(2)
    expect(page.locator(".resp .md", has_text="<script>")).to_have_text(XSS)
    expect(page.locator(".prompt-bar .md")).to_have_text(XSS)
    assert page.locator(".task b, .task script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_k2_asks_how_much_better_and_needs_an_answer(signed_in, project, labeler):
    project.k = 2
    project.save()
    add_ready_prompt(project, "Name a colour.", candidates=["Blue.", "I cannot help with that."])
    page = signed_in
    start(page, project, "rank")
    a, b = shown_order(page)
    page.keyboard.press("7")
    page.keyboard.press("2")
    # Both rated: focus goes to the strength question, and Enter without an answer says what is missing.
    expect(page.locator(".strength")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".step-note")).to_have_text("Say how much better A is.")
    page.keyboard.press("2")
    expect(page.get_by_role("radio", name="Better", exact=True)).to_have_attribute("aria-checked", "true")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Nothing left to do here")).to_be_visible()
    ranking = Ranking.objects.get(labeler=labeler)
    assert stored(ranking) == {a: (1, 7, []), b: (2, 2, [])} and ranking.strength == "better"


def test_on_a_phone_one_response_at_a_time_and_nothing_overflows(browser, live_server, project, labeler, rank_prompt):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, labeler)
        start(page, project, "rank")
        expect(page.locator(".resp:visible")).to_have_count(1)
        expect(page.locator(".pager .position")).to_have_text("A · 1 of 4")
        page.get_by_role("button", name="Next response").tap()
        expect(page.locator(".pager .position")).to_have_text("B · 2 of 4")
        expect(page.locator(".resp:visible .letter")).to_have_text("B")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") == 0
    finally:
        context.close()


def test_each_new_task_opens_at_the_top_with_focus_on_the_first_response(signed_in, project, labeler):
    for text in ("First prompt", "Second prompt"):
        add_ready_prompt(project, text, candidates=[f"{text}: answer {i}\n\n" + "long line\n\n" * 80 for i in range(4)])
    page = signed_in
    page.set_viewport_size({"width": 1000, "height": 500})
    start(page, project, "rank")
    first = task_id(page)
    for key in ("5", "4", "3", "2"):
        page.keyboard.press(key)
    page.mouse.wheel(0, 2000)
    page.wait_for_function("() => window.scrollY > 0")  # a function: an expression would need eval, which the CSP forbids
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)
    assert page.evaluate("window.scrollY") == 0
    assert focused_candidate(page) == str(shown_order(page)[0])


def test_drafts_belong_to_their_labeler_and_go_away_on_logout(signed_in, project, labeler, other_labeler, rank_prompt):
    page = signed_in
    start(page, project, "rank")
    first = task_id(page)
    page.keyboard.press("5")
    keys = page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('rankwise:draft:'))")
    assert keys == [f"rankwise:draft:{labeler.pk}:{first}"]
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('rankwise:draft:'))") == []

    # Another labeler on the same browser: a draft left under someone else's name is never shown to them.
    add_ready_prompt(project, "Another prompt", candidates=["w", "x", "y", "z"])
    log_in(page, other_labeler)
    start(page, project, "rank")
    theirs = task_id(page)
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [
        f"rankwise:draft:{labeler.pk}:{theirs}",
        '{"ranking": {"ratings": {}, "tiers": [], "manual": true}, "savedAt": %d}' % 10**13])
    page.reload()
    page.wait_for_selector(".responses .resp")
    expect(page.locator('.likert [aria-pressed="true"]')).to_have_count(0)


def test_d_on_two_responses_marks_the_words_they_differ_in_as_text(signed_in, project, labeler):
    project.k = 3
    project.save()
    add_ready_prompt(project, "Compare", candidates=[
        "The cat sat on the <b>mat</b>.", "The dog sat on the <b>mat</b>.", "Something else entirely."])
    page = signed_in
    start(page, project, "rank")
    by_text = {page.locator(f'.resp[data-candidate="{c}"] pre.raw').text_content(): c for c in shown_order(page)}
    cat, dog = by_text["The cat sat on the <b>mat</b>."], by_text["The dog sat on the <b>mat</b>."]
    page.locator(f'.resp[data-candidate="{cat}"]').focus()
    page.keyboard.press("d")
    expect(page.locator(".diff")).to_have_count(0)
    page.locator(f'.resp[data-candidate="{dog}"]').focus()
    page.keyboard.press("d")
    cat_diff, dog_diff = (page.locator(f'.resp[data-candidate="{c}"] .diff') for c in (cat, dog))
    expect(cat_diff).to_have_text("The cat sat on the <b>mat</b>.")
    expect(cat_diff.locator("mark.diff-removed")).to_have_text("cat")
    expect(dog_diff.locator("mark.diff-added")).to_have_text("dog")
    expect(page.locator(f'.resp[data-candidate="{cat}"] .md')).to_be_hidden()
    assert page.locator(".diff b").count() == 0  # the response's markup stays text
    page.keyboard.press("d")
    expect(page.locator(".diff")).to_have_count(0)
    expect(page.locator(f'.resp[data-candidate="{cat}"] .md')).to_be_visible()
    # Comparing changes no rating: the ranking is still empty.
    assert Ranking.objects.filter(labeler=labeler).count() == 0
    expect(page.locator(".resp.done")).to_have_count(0)


def test_the_responses_take_the_height_left_so_submit_is_in_view_task_after_task(signed_in, project, labeler):
    for text in ("First prompt", "Second prompt " + "with more words " * 30):
        add_ready_prompt(project, text, candidates=[f"{text}: answer {i}\n\n" + "long line\n\n" * 80 for i in range(4)])
    page = signed_in
    page.set_viewport_size({"width": 1366, "height": 768})
    start(page, project, "rank")
    fits = ("() => { const b = document.querySelector('.ranking [type=submit]').getBoundingClientRect();"
            " const c = document.querySelector('.resp').getBoundingClientRect();"
            " return b.bottom <= innerHeight && b.bottom > 0 && c.height > 240; }")
    page.wait_for_function(fits)
    first = task_id(page)
    for key in ("5", "4", "3", "2"):
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    wait_for_next_task(page, first)
    page.wait_for_function(fits)
    # Unfolding the long prompt takes height from the responses, not from the ranking below them.
    before = page.locator(".resp").first.bounding_box()["height"]
    page.keyboard.press("p")
    page.wait_for_function(f"() => document.querySelector('.resp').getBoundingClientRect().height < {before}")
    page.keyboard.press("p")
    page.wait_for_function(f"() => document.querySelector('.resp').getBoundingClientRect().height === {before}")


def test_the_browser_keeps_the_guidelines_and_revalidates_them_by_etag(signed_in, project, labeler, rank_prompt):
    page = signed_in
    asked = []
    page.on("request", lambda request: asked.append(request) if "/guidelines/" in request.url else None)
    for _ in range(2):
        page.goto(f"/projects/{project.pk}/work/rank/")
        expect(page.locator("#guidelines-body")).to_contain_text("Be kind")
    assert len(asked) == 2
    assert "if-none-match" not in asked[0].all_headers()
    assert asked[1].all_headers()["if-none-match"] == asked[0].response().all_headers()["etag"]
    assert asked[1].response().status in (200, 304)  # 304 on the wire; Chromium may report the cached 200
