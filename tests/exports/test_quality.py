"""Exports and training respect quality: one definition of a ranking usable for training
(Ranking.objects.usable_for_training) decides both the default RM exports and the trainer's data; each
exported ranking carries the labeler's pseudonym, the gold flag, the review status and the agreement."""
import pytest
from django.utils import timezone

from exports.models import ExportJob
from labeling import workflow
from labeling.models import LabelerQuality, Prompt, Ranking, ReviewCause
from rewards.data import ranking_groups
from tests.conftest import client_for, make_user
from tests.exports.conftest import rank
from tests.exports.test_datasets import export_rows

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


@pytest.fixture
def reviewed_project(ranked_project, labeler, other_labeler):
    """ranked_project ("Explain gravity" 5/6 agreement, "Write a haiku" full agreement, both ranked by
    labeler1 and labeler2), then: labeler2's gravity ranking rejected, labeler1 flagged with their haiku
    ranking accepted by a reviewer, and the third prompt ("Say thanks") ranked by labeler2 and made gold."""
    from labeling.roles import REVIEWER_GROUP, sync_roles

    sync_roles()
    reviewer = make_user("reviewer1", REVIEWER_GROUP)
    gravity, haiku = (Ranking.objects.get(prompt__messages__0__content=text, labeler=who) for text, who in
                      (("Explain gravity", other_labeler), ("Write a haiku", labeler)))
    workflow.queue_for_review(Ranking.objects.filter(pk__in=[gravity.pk, haiku.pk]), ReviewCause.SAMPLE)
    workflow.review_ranking(gravity.pk, reviewer, accept=False, reason="Random order")
    workflow.review_ranking(haiku.pk, reviewer, accept=True)
    LabelerQuality.objects.filter(project=ranked_project, labeler=labeler).update(flagged_at=timezone.now(),
                                                                                  flag_reasons=["test"])
    gold = Prompt.objects.get(messages__0__content="Say thanks")
    rank(gold, other_labeler, [1, 2, 3, 4])
    workflow.mark_gold(gold, [1, 2, 3, 4])
    return ranked_project


def exported(tmp_path, project, **filters):
    return {(row["messages"][-1]["content"], row["labeler"])
            for row in export_rows(tmp_path, project, "grouped", filters=filters)}


def names(*pairs):
    from exports.datasets import pseudonym

    return {(text, pseudonym(user.pk, user.username)) for text, user in pairs}


def test_the_default_export_leaves_out_rejected_quarantined_and_gold_rankings(tmp_path, reviewed_project, labeler,
                                                                             other_labeler):
    # labeler1 is flagged: only their accepted haiku ranking stays; labeler2's gravity ranking was rejected.
    assert exported(tmp_path, reviewed_project) == names(("Write a haiku", labeler), ("Write a haiku", other_labeler))
    assert exported(tmp_path, reviewed_project, accepted_only=True) == names(("Write a haiku", labeler))
    assert exported(tmp_path, reviewed_project, include_quarantined=True) == names(
        ("Write a haiku", labeler), ("Write a haiku", other_labeler), ("Explain gravity", labeler))
    assert exported(tmp_path, reviewed_project, include_gold=True) == names(
        ("Write a haiku", labeler), ("Write a haiku", other_labeler), ("Say thanks", other_labeler))
    # Stored agreement: haiku 1; gravity none (one ranking left).
    assert exported(tmp_path, reviewed_project, include_quarantined=True, min_agreement=0.9) == names(
        ("Write a haiku", labeler), ("Write a haiku", other_labeler))
    pairs = export_rows(tmp_path, reviewed_project, "pairwise")
    assert {row["prompt"] for row in pairs} == {"Write a haiku\n\n"} and len(pairs) == 5 + 5


def test_training_reads_exactly_the_rankings_the_default_export_has(tmp_path, reviewed_project):
    groups = list(ranking_groups(reviewed_project))
    assert sorted(g.prompt_id for g in groups) == sorted(
        str(r.prompt_id) for r in Ranking.objects.usable_for_training().filter(prompt__project=reviewed_project))
    assert len(groups) == len(export_rows(tmp_path, reviewed_project, "grouped"))
    everything = list(ranking_groups(reviewed_project, quality={"include_quarantined": True, "include_gold": True}))
    assert len(everything) == 4  # all but the rejected one
    assert len(list(ranking_groups(reviewed_project, quality={"accepted_only": True}))) == 1


def test_each_exported_ranking_carries_its_quality(tmp_path, reviewed_project, labeler):
    from exports.datasets import pseudonym

    rows = export_rows(tmp_path, reviewed_project, "grouped", filters={"include_quarantined": True,
                                                                       "include_gold": True})
    by_key = {(row["messages"][-1]["content"], row["labeler"]): row for row in rows}
    haiku = by_key["Write a haiku", pseudonym(labeler.pk, labeler.username)]
    assert (haiku["gold"], haiku["review_status"], haiku["agreement"]) == (False, "accepted", 1.0)
    gravity = by_key["Explain gravity", pseudonym(labeler.pk, labeler.username)]
    # Its prompt's other ranking was rejected, and took the agreement (5/6) with it.
    assert gravity["review_status"] == "unreviewed" and gravity["agreement"] is None
    colour = next(row for row in rows if row["prompt"] == "Say thanks\n\n")
    assert colour["gold"] is True and colour["agreement"] is None


def test_an_unknown_labeler_in_the_filters_is_a_400_naming_it(reviewed_project, admin_user):
    response = client_for(admin_user).post("/api/exports/", {
        "project": reviewed_project.pk, "dataset": "grouped", "filters": {"labelers": ["labeler1", "nobody"]},
    }, format="json")
    assert response.status_code == 400 and "nobody" in str(response.json()["filters.labelers"])
    assert not ExportJob.objects.exists()


def test_a_training_request_checks_its_quality_options(reviewed_project, admin_user):
    client = client_for(admin_user)
    url = f"/api/projects/{reviewed_project.pk}/training-runs/"
    response = client.post(url, {"min_agreement": 1.5}, format="json")
    assert response.status_code == 400 and "min_agreement" in response.json()
    response = client.post(url, {"accepted_only": "maybe"}, format="json")
    assert response.status_code == 400 and "accepted_only" in response.json()
