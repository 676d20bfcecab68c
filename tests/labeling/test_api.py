"""The labeler API end to end: next task, submits, idempotency and bad input."""
import pytest

from labeling import workflow
from labeling.models import CandidateRating, Demonstration, Prompt, PromptState, Ranking, Task, TaskKind
from tests.conftest import add_ready_prompt, client_for


def next_task(client, project, kind="rank"):
    return client.post(f"/api/projects/{project.pk}/next/", {"kind": kind}, format="json")


def ratings_for(task_json, tiers=None, likert=5):
    ids = [c["id"] for c in task_json["candidates"]]
    tiers = tiers or list(range(1, len(ids) + 1))
    return [{"candidate": c, "tier": t, "likert": likert, "flags": []} for c, t in zip(ids, tiers)]


@pytest.fixture
def api(labeler):
    return client_for(labeler)


def test_it_ranks_with_ties_and_stores_everything(api, project, ready_prompt, labeler):
    task = next_task(api, project).json()
    assert task["kind"] == "rank" and len(task["candidates"]) == 4
    assert "reward" not in task["candidates"][0] and "model_name" not in task["candidates"][0]
    ratings = ratings_for(task, tiers=[1, 2, 2, 4])
    ratings[0]["flags"] = ["hallucination", "expresses_opinion"]
    response = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings, "time_spent_ms": 4321},
                        format="json")
    assert response.status_code == 200, response.json()
    ranking = Ranking.objects.get()
    assert ranking.labeler == labeler and ranking.time_spent_ms == 4321
    assert ranking.display_order == [c["id"] for c in task["candidates"]]
    stored = {r.candidate_id: (r.tier, r.likert, r.flags) for r in ranking.ratings.all()}
    ids = [c["id"] for c in task["candidates"]]
    # Tiers are stored dense: 1, 2, 2, 4 becomes 1, 2, 2, 3.
    assert [stored[i][0] for i in ids] == [1, 2, 2, 3]
    assert stored[ids[0]][2] == ["expresses_opinion", "hallucination"]
    assert len(ranking.comparisons()) == 5  # C(4,2)=6 pairs minus the one tie
    ready_prompt.refresh_from_db()
    assert ready_prompt.state == PromptState.DONE


def test_a_retried_submit_stores_one_ranking(api, project, ready_prompt):
    task = next_task(api, project).json()
    body = {"ratings": ratings_for(task), "time_spent_ms": 10}
    first = api.post(f"/api/tasks/{task['id']}/ranking/", body, format="json")
    second = api.post(f"/api/tasks/{task['id']}/ranking/", body, format="json")
    assert first.status_code == second.status_code == 200
    assert first.json()["stored_id"] == second.json()["stored_id"]
    assert Ranking.objects.count() == 1 and CandidateRating.objects.count() == 4


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r[:-1], "ratings"),  # leaves out a candidate
    (lambda r: r[:-1] + [dict(r[0])], "ratings"),  # names one twice
    (lambda r: r[:-1] + [{**r[-1], "candidate": 999999}], "ratings"),  # a candidate of no/another prompt
    (lambda r: [{**r[0], "likert": 8}] + r[1:], "ratings"),
    (lambda r: [{**r[0], "likert": 0}] + r[1:], "ratings"),
    (lambda r: [{**r[0], "tier": 0}] + r[1:], "ratings"),
    (lambda r: [{**r[0], "flags": ["not_a_flag"]}] + r[1:], "ratings"),
])
def test_a_bad_ranking_is_refused_naming_the_field_and_nothing_is_stored(api, project, ready_prompt, mutate, field):
    task = next_task(api, project).json()
    response = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": mutate(ratings_for(task))}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Ranking.objects.count() == 0 and CandidateRating.objects.count() == 0
    assert Task.objects.get(pk=task["id"]).state == "leased"


def test_a_candidate_of_another_prompt_is_refused(api, project):
    add_ready_prompt(project, "first")
    other = add_ready_prompt(project, "second")
    task = next_task(api, project).json()
    ratings = ratings_for(task)
    ratings[0]["candidate"] = other.candidates.first().pk
    response = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json")
    assert response.status_code == 400 and "not one of this prompt's candidates" in str(response.json())


def test_a_foreign_lease_is_invisible_and_cannot_be_submitted(api, project, ready_prompt, other_labeler):
    task = next_task(api, project).json()
    intruder = client_for(other_labeler)
    assert intruder.get(f"/api/tasks/{task['id']}/").status_code == 404
    response = intruder.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings_for(task)}, format="json")
    assert response.status_code == 404
    assert Ranking.objects.count() == 0


def test_an_expired_lease_is_refused(api, project, ready_prompt, settings):
    from datetime import timedelta

    from django.utils import timezone

    task = next_task(api, project).json()
    Task.objects.filter(pk=task["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings_for(task)}, format="json")
    assert response.status_code == 400 and "expired" in response.json()["task"]
    assert Ranking.objects.count() == 0


def test_write_a_prompt_then_a_demonstration(api, project, labeler, other_labeler,
                                             django_capture_on_commit_callbacks):
    task = next_task(api, project, "write_prompt").json()
    assert task["use_case"] == "Brainstorming"
    response = api.post(f"/api/tasks/{task['id']}/prompt/", {"kind": "plain", "text": "List 3 uses for a brick"},
                        format="json")
    assert response.status_code == 200, response.json()
    prompt = Prompt.objects.get()
    assert prompt.source == "labeler" and prompt.author == labeler and prompt.state == "awaiting_demonstration"
    # Its author never writes its demonstration; another labeler does.
    assert next_task(api, project, "write_demonstration").status_code == 204
    other = client_for(other_labeler)
    demo_task = next_task(other, project, "write_demonstration").json()
    assert demo_task["prompt"]["messages"] == [{"role": "user", "content": "List 3 uses for a brick"}]
    with django_capture_on_commit_callbacks(execute=False):
        response = other.post(f"/api/tasks/{demo_task['id']}/demonstration/", {"text": "A doorstop, ...",
                                                                               "time_spent_ms": 99}, format="json")
    assert response.status_code == 200
    assert Demonstration.objects.get().text == "A doorstop, ..."


def test_a_few_shot_prompt_keeps_its_examples(api, project):
    task = next_task(api, project, "write_prompt").json()
    body = {"kind": "few_shot", "instruction": "Turn the sentence into a question.",
            "examples": [{"query": "It is raining.", "response": "Is it raining?"},
                         {"query": "She left.", "response": "Did she leave?"}]}
    assert api.post(f"/api/tasks/{task['id']}/prompt/", body, format="json").status_code == 200
    prompt = Prompt.objects.get()
    assert prompt.kind == "few_shot" and len(prompt.few_shot["examples"]) == 2
    assert "Did she leave?" in prompt.messages[0]["content"]


@pytest.mark.parametrize("path, body, field", [
    ("demonstration", {"text": "   "}, "text"),
    ("demonstration", {"text": "x" * 20_001}, "text"),
])
def test_bad_demonstrations_are_refused(api, project, labeler, path, body, field):
    workflow.start_prompt(Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Hi"}]))
    task = next_task(api, project, "write_demonstration").json()
    response = api.post(f"/api/tasks/{task['id']}/{path}/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert Demonstration.objects.count() == 0


def test_an_oversize_prompt_is_refused(api, project, settings):
    settings.RANKWISE_MAX_TEXT_CHARS = 100
    task = next_task(api, project, "write_prompt").json()
    response = api.post(f"/api/tasks/{task['id']}/prompt/", {"text": "y" * 101}, format="json")
    assert response.status_code == 400 and "limit is 100" in str(response.json())
    assert Prompt.objects.count() == 0


def test_an_unknown_task_or_project_answers_404(api, project):
    assert api.post("/api/tasks/424242/ranking/", {"ratings": []}, format="json").status_code == 404
    assert api.post("/api/projects/424242/next/", {"kind": "rank"}, format="json").status_code == 404
    assert next_task(api, project, "dance").status_code == 400


def test_skip_with_a_reason(api, project, ready_prompt):
    task = next_task(api, project).json()
    assert api.post(f"/api/tasks/{task['id']}/skip/", {"reason": "nonsense"}, format="json").status_code == 400
    response = api.post(f"/api/tasks/{task['id']}/skip/", {"reason": "not_my_language"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "skipped"
    assert next_task(api, project).status_code == 204


def test_labeler_stats_count_today_and_total(api, project, ready_prompt):
    task = next_task(api, project).json()
    api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings_for(task)}, format="json")
    stats = api.get("/api/me/stats/").json()
    assert stats["today"]["rank"] == 1 and stats["total"]["rank"] == 1


def test_the_schema_and_docs_are_served(api):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/tasks/{id}/ranking/" in schema.content
    assert api.get("/api/docs/").status_code == 200


def test_task_kinds_that_are_off_give_no_task(api, project):
    project.write_prompts_enabled = False
    project.save()
    assert next_task(api, project, TaskKind.WRITE_PROMPT).status_code == 204


def test_guidelines_are_rendered_markdown_without_scripts(api, project, ready_prompt):
    project.guidelines = "# Rules\n\n**Be kind.** <script>alert(1)</script><img src=x onerror=alert(2)>"
    project.save()
    version = next_task(api, project).json()["guidelines_version"]
    response = api.get(f"/api/projects/{project.pk}/guidelines/")
    assert response.json()["version"] == version and response["ETag"] == f'"{version}"'
    html = response.json()["html"]
    assert "<h1>Rules</h1>" in html and "<strong>Be kind.</strong>" in html
    assert "<script" not in html and "onerror" not in html


def test_guidelines_travel_once_per_version(api, project, ready_prompt):
    url = f"/api/projects/{project.pk}/guidelines/"
    etag = api.get(url)["ETag"]
    assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    project.guidelines = "New rules"
    project.save()
    changed = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag and "New rules" in changed.json()["html"]
    assert next_task(api, project).json()["guidelines_version"] == changed.json()["version"]


def test_each_kind_of_page_gets_the_guidelines_of_its_kind(api, project):
    project.guidelines = ("For everyone.\n\n## Rank responses\n\nRank by helpfulness.\n\n"
                          "## Write a prompt ##\n\nBe diverse.\n\n## Tone\n\nBe kind.\n")
    project.save()
    url = f"/api/projects/{project.pk}/guidelines/"
    rank = api.get(url, {"kind": "rank"})
    assert all(text in rank.json()["html"] for text in ("For everyone.", "Rank by helpfulness.", "Be kind."))
    assert "Be diverse." not in rank.json()["html"]
    writing = api.get(url, {"kind": "write_prompt"}).json()["html"]
    assert "Be diverse." in writing and "Rank by helpfulness." not in writing and "Be kind." in writing
    assert "Rank by helpfulness." not in api.get(url, {"kind": "write_demonstration"}).json()["html"]
    assert rank["ETag"] != api.get(url, {"kind": "write_prompt"})["ETag"]
    assert api.get(url, {"kind": "rank"}, HTTP_IF_NONE_MATCH=rank["ETag"]).status_code == 304
    assert api.get(url, {"kind": "nonsense"}).status_code == 400
    assert "Be diverse." in api.get(url).json()["html"]  # no kind: all of it


def test_a_task_carries_what_the_schema_says_and_nothing_of_the_project(api, project, ready_prompt):
    from labeling.api import TaskSerializer

    task = next_task(api, project).json()
    assert set(task) == set(TaskSerializer().fields)
    from labeling.api import CandidateForLabelerSerializer, PromptForLabelerSerializer

    assert set(task["candidates"][0]) == set(CandidateForLabelerSerializer().fields) == {"id", "text", "html"}
    assert set(task["prompt"]) == set(PromptForLabelerSerializer().fields)
    assert "project" not in task and "generation" not in str(task)


def test_a_ranking_submit_answers_with_the_next_task(api, labeler, project, ready_prompt):
    second = add_ready_prompt(project, "Second prompt")
    task = next_task(api, project).json()
    ratings = [{"candidate": c["id"], "tier": i + 1, "likert": 4} for i, c in enumerate(task["candidates"])]
    answer = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json").json()
    assert answer["state"] == "submitted" and answer["next"]["prompt"]["id"] == second.pk
    # The next task is leased: asking for one returns it, and a retried submit answers with it too.
    assert next_task(api, project).json()["id"] == answer["next"]["id"]
    again = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings}, format="json").json()
    assert again["stored_id"] == answer["stored_id"] and again["next"]["id"] == answer["next"]["id"]
    assert Ranking.objects.count() == 1
    last = answer["next"]
    ratings = [{"candidate": c["id"], "tier": 1, "likert": 4} for c in last["candidates"]]
    assert api.post(f"/api/tasks/{last['id']}/ranking/", {"ratings": ratings}, format="json").json()["next"] is None


def test_k2_stores_how_much_better_and_refuses_a_strength_without_a_top_pair(api, labeler, project):
    project.k = 2
    project.save()
    add_ready_prompt(project, "Pick one", candidates=["yes", "no"])
    add_ready_prompt(project, "Pick another", candidates=["left", "right"])
    task = next_task(api, project).json()
    a, b = (c["id"] for c in task["candidates"])
    tied = [{"candidate": a, "tier": 1, "likert": 5}, {"candidate": b, "tier": 1, "likert": 5}]
    for strength, ratings in (("hugely_better", tied), ("better", tied)):
        answer = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ratings, "strength": strength},
                          format="json")
        assert answer.status_code == 400 and "strength" in answer.json(), answer.json()
    assert not Ranking.objects.exists()
    ordered = [{"candidate": a, "tier": 2, "likert": 3}, {"candidate": b, "tier": 1, "likert": 6}]
    answer = api.post(f"/api/tasks/{task['id']}/ranking/", {"ratings": ordered, "strength": "significantly_better"},
                      format="json")
    assert answer.status_code == 200
    assert Ranking.objects.get().strength == "significantly_better"
    # Without a strength (an API client that does not ask for it) the ranking is stored with none.
    following = answer.json()["next"]
    ratings = [{"candidate": c["id"], "tier": i + 1, "likert": 4} for i, c in enumerate(following["candidates"])]
    assert api.post(f"/api/tasks/{following['id']}/ranking/", {"ratings": ratings}, format="json").status_code == 200
    assert Ranking.objects.get(task_id=following["id"]).strength == ""
