"""Rescoring for the disagreement order: the current version's scores and the previous version's, and a
switch to that order queues the rescoring that computes them."""
from datetime import timedelta

from django.utils import timezone

from labeling.models import Candidate, RankOrder, Task, TaskKind
from rewards import pipeline
from tests.conftest import add_ready_prompt, client_for
from tests.platform_rewards.conftest import fake_version


def two_promoted_versions(project):
    now = timezone.now()
    fake_version(project, 1, 0.6, promoted_at=now - timedelta(days=2))
    fake_version(project, 2, 0.7, promoted_at=now - timedelta(days=1))  # promoted and rolled back since
    older = fake_version(project, 3, 0.6, promoted_at=now - timedelta(days=3))
    current = fake_version(project, 4, 0.8, current=True, promoted_at=now)
    return older, current


def fake_scoring(monkeypatch):
    """Each fake checkpoint scores a candidate by its own rule: v4 by the text's last character, the
    version promoted before it (v2) by its negation; any other version must not be used."""
    monkeypatch.setattr(pipeline, "load_checkpoint", lambda path: (path, None, {}))
    rules = {"/nonexistent/v4": lambda text: float(ord(text[-1])), "/nonexistent/v2": lambda text: -float(ord(text[-1]))}
    monkeypatch.setattr(pipeline, "score", lambda path, tokenizer, prompts, texts, batch_size: [rules[path](t) for t in texts])


def test_the_previous_version_is_the_one_promoted_just_before(project):
    older, current = two_promoted_versions(project)
    assert current.previous_version().version == 2 and older.previous_version() is None


def test_rescoring_stores_both_versions_scores_and_orders_by_their_disagreement(project, monkeypatch):
    project.rank_order = RankOrder.DISAGREEMENT
    project.save()
    prompt = add_ready_prompt(project, candidates=["a", "b", "c", "d"])
    _, current = two_promoted_versions(project)
    fake_scoring(monkeypatch)
    assert pipeline.score_candidates(current) == 4
    scores = list(Candidate.objects.filter(prompt=prompt).order_by("index").values_list("reward", "previous_reward"))
    assert scores == [(97.0, -97.0), (98.0, -98.0), (99.0, -99.0), (100.0, -100.0)]
    # Every pair reversed: the share term is 0, and the margin 1 adds 0.5 / 7.
    assert abs(Task.objects.get(prompt=prompt, kind=TaskKind.RANK).priority - 0.5 / 7) < 1e-9


def test_other_orders_score_with_the_current_version_only_and_clear_old_previous_scores(project, monkeypatch):
    project.rank_order = RankOrder.UNCERTAINTY
    project.save()
    prompt = add_ready_prompt(project, candidates=["a", "b", "c", "d"])
    prompt.candidates.update(previous_reward=5.0)
    _, current = two_promoted_versions(project)
    fake_scoring(monkeypatch)
    pipeline.score_candidates(current)
    assert set(Candidate.objects.values_list("previous_reward", flat=True)) == {None}


def test_switching_to_the_disagreement_order_queues_a_rescoring(project, admin_user, django_capture_on_commit_callbacks):
    _, current = two_promoted_versions(project)
    api = client_for(admin_user)
    with django_capture_on_commit_callbacks() as queued:
        response = api.patch(f"/api/projects/{project.pk}/", {"rank_order": "disagreement"}, format="json")
    assert response.status_code == 200, response.content
    assert len(queued) == 1
    with django_capture_on_commit_callbacks() as queued:
        api.patch(f"/api/projects/{project.pk}/", {"rank_order": "disagreement", "name": "Renamed"}, format="json")
    assert len(queued) == 0  # unchanged order: nothing to rescore
