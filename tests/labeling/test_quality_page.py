"""Where admins look: the quality page and the quality API (project figures, agreement over time, the
per-labeler table with why a labeler is flagged, review progress, contentious prompts). Admins only."""
import re

import pytest
from django.test import Client

from labeling.roles import REVIEWER_GROUP
from tests.conftest import client_for, make_user


def test_the_quality_api_gives_admins_the_stored_figures(rated_project, admin_user):
    data = client_for(admin_user).get(f"/api/projects/{rated_project.pk}/quality/").json()
    # 5 of 6 pairs on the first prompt, whose rejected ranking took them out, then 6 of 6 twice.
    assert data["figures"]["pairwise_agreement"] == 1.0
    assert data["figures"]["flagged"] == 1 and data["figures"]["labelers"] == 2
    assert [point["prompts"] for point in data["agreement_over_time"]] == [2]
    assert data["review"] == {"pending": 0, "accepted": 0, "rejected": 1, "reviewed": 1, "rejected_share": 1.0,
                              "by_cause": {"sample": 1, "contentious": 0, "watched": 0}}


def test_the_labelers_api_gives_the_table_or_one_labeler(rated_project, admin_user, other_labeler):
    client = client_for(admin_user)
    url = f"/api/projects/{rated_project.pk}/labelers/"
    table = client.get(url).json()
    assert [row["username"] for row in table] == ["labeler1", "labeler2"]
    assert table[1]["flagged"] and table[1]["flag_reasons"] == ["peer agreement 0.42 < 0.60"]
    assert table[0]["peer_agreement"] == pytest.approx(17 / 18)
    one = client.get(url, {"labeler": other_labeler.pk}).json()
    assert one["username"] == "labeler2" and one["rankings"] == 3


@pytest.mark.parametrize("value", ["999999", "abc", "-1"])
def test_an_unknown_labeler_is_a_400_naming_the_field(rated_project, admin_user, value):
    response = client_for(admin_user).get(f"/api/projects/{rated_project.pk}/labelers/", {"labeler": value})
    assert response.status_code == 400 and "labeler" in response.json()


def test_a_labeler_without_rankings_in_the_project_is_a_400(rated_project, admin_user):
    response = client_for(admin_user).get(f"/api/projects/{rated_project.pk}/labelers/", {"labeler": admin_user.pk})
    assert response.status_code == 400 and "no rankings" in str(response.json()["labeler"])


def test_labelers_and_reviewers_never_see_the_figures(rated_project, labeler):
    reviewer = make_user("reviewer2", REVIEWER_GROUP)
    for user in (labeler, reviewer):
        for url in (f"/api/projects/{rated_project.pk}/quality/", f"/api/projects/{rated_project.pk}/labelers/",
                    f"/api/projects/{rated_project.pk}/labelers/?labeler={user.pk}"):
            assert client_for(user).get(url).status_code == 403
        page = Client()
        page.force_login(user)
        assert page.get(f"/projects/{rated_project.pk}/quality/").status_code == 403


def page_for(user, url):
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_quality_page_shows_figures_plot_table_review_and_sorts(rated_project, admin_user, labeler,
                                                                    other_labeler):
    html = page_for(admin_user, f"/projects/{rated_project.pk}/quality/")
    assert re.search(r'data-figure="pairwise_agreement">1\.000<', html)
    assert "<svg" in html and "<polyline" in html and "<script>" not in html
    assert "peer agreement 0.42 &lt; 0.60" in html
    assert "0 waiting, 0 accepted, 1 rejected" in html

    def labeler_order(query):
        return [int(i) for i in re.findall(r'<tr data-labeler="(\d+)"', page_for(
            admin_user, f"/projects/{rated_project.pk}/quality/?{query}"))]

    assert labeler_order("sort=username&order=asc") == [labeler.pk, other_labeler.pk]
    assert labeler_order("sort=username&order=desc") == [other_labeler.pk, labeler.pk]
    assert labeler_order("sort=flagged&order=desc") == [other_labeler.pk, labeler.pk]
    assert labeler_order("sort=nonsense") == [labeler.pk, other_labeler.pk]
