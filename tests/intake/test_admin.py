"""The intake in the Django admin: each API user's filings counted by outcome, and the filings themselves,
read only and filtered by outcome and project; for admins only."""
import re

import pytest
from django.contrib.auth.models import User

from intake.models import ApiUser, Filing
from labeling.models import Project
from tests.intake.conftest import pending

pytestmark = pytest.mark.postgres

OUTCOMES = {"stored": 3, "duplicate": 2, "cap_reached": 1, "invalid": 1, "no_consent": 1, "failed": 1, "queued": 2}


@pytest.fixture
def filings(api_user):
    """`api_user`'s filings with OUTCOMES, and one of another user in the project "Elsewhere"."""
    for status, n in OUTCOMES.items():
        for i in range(n):
            Filing.objects.filter(pk=pending(api_user, f"{status} {i}").pk).update(status=status)
    project = Project.objects.create(name="Elsewhere", k=2)
    other, _ = ApiUser.objects.create_with_token(name="other caller", project=project, consent=True)
    Filing.objects.filter(pk=pending(other, "elsewhere").pk).update(status="stored")


def elsewhere():
    return Project.objects.get(name="Elsewhere").pk


def listed(page):
    return page.context["cl"].result_count


def counts(page):
    """{outcome: count} as the page's filings links show them."""
    return {status: int(n) for status, n in re.findall(r'status__exact=\w+">(\w+): (\d+)</a>', page.content.decode())}


def test_the_api_users_list_and_page_count_their_filings_by_outcome(postgres, admin_user, client, api_user,
                                                                    filings):
    client.force_login(admin_user)
    page = client.get(f"/admin/intake/apiuser/{api_user.pk}/change/")
    assert page.status_code == 200 and counts(page) == OUTCOMES
    page = client.get(f"/admin/intake/apiuser/?project__id__exact={api_user.project_id}")
    assert page.status_code == 200 and counts(page) == OUTCOMES
    assert counts(client.get(f"/admin/intake/apiuser/?project__id__exact={elsewhere()}")) == {"stored": 1}
    newcomer, _ = ApiUser.objects.create_with_token(name="newcomer", project=api_user.project)
    page = client.get(f"/admin/intake/apiuser/{newcomer.pk}/change/")
    assert counts(page) == {} and '<div class="readonly">none</div>' in page.content.decode()
    assert client.get("/admin/intake/apiuser/add/").status_code == 200  # no figures before there is a user


def test_a_count_links_to_those_filings(postgres, admin_user, client, api_user, filings):
    client.force_login(admin_user)
    for status, n in OUTCOMES.items():
        assert listed(client.get(f"/admin/intake/filing/?api_user={api_user.pk}&status__exact={status}")) == n


def test_filings_are_filtered_by_outcome_and_project(postgres, admin_user, client, api_user, filings):
    client.force_login(admin_user)
    assert listed(client.get("/admin/intake/filing/")) == sum(OUTCOMES.values()) + 1
    assert listed(client.get("/admin/intake/filing/?status__exact=stored")) == 4
    assert listed(client.get(f"/admin/intake/filing/?project__id__exact={elsewhere()}")) == 1
    assert listed(client.get(f"/admin/intake/filing/?project__id__exact={api_user.project_id}"
                             "&status__exact=duplicate")) == 2


def test_filings_are_read_only(postgres, admin_user, client, api_user, filings):
    client.force_login(admin_user)
    filing = Filing.objects.filter(api_user=api_user, status="queued").first()
    page = client.get(f"/admin/intake/filing/{filing.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert "queued 0" in page.content.decode()  # a pending filing's masked conversation
    assert client.post(f"/admin/intake/filing/{filing.pk}/change/", {"status": "stored"}).status_code == 403
    assert client.get("/admin/intake/filing/add/").status_code == 403
    assert Filing.objects.get(pk=filing.pk).status == "queued"


@pytest.mark.parametrize("who", ["labeler", "staff without the admin role"])
def test_only_admins_see_the_intake(postgres, admin_user, labeler, client, api_user, filings, who):
    user = labeler if who == "labeler" else User.objects.create_user("support", is_staff=True)
    client.force_login(user)
    for url in ("/admin/intake/filing/", "/admin/intake/apiuser/", f"/admin/intake/apiuser/{api_user.pk}/change/"):
        response = client.get(url)
        # The admin site sends a non-staff user to its login page; staff without the permission get a 403.
        assert response.status_code == (302 if who == "labeler" else 403), url
        assert b"stored" not in response.content
    assert "intake" not in client.get("/admin/").content.decode().lower()
