"""The data explorer is the Django admin: prompts, candidates and rankings by labeler, state, agreement and
review status, with lists that read as words."""
import re

import pytest
from django.contrib import admin
from django.test import Client

from labeling.models import PromptAgreement, Ranking


@pytest.fixture
def browse(admin_user):
    client = Client()
    client.force_login(admin_user)

    def get(url):
        response = client.get(url)
        assert response.status_code == 200, url
        return response.content.decode()
    return get


def listed_ids(html):
    return sorted(int(i) for i in re.findall(r'name="_selected_action" value="(\d+)"', html))


def test_every_admin_list_reads_as_words(rated_project, browse):
    for model in admin.site._registry:
        opts = model._meta
        if opts.app_label not in ("labeling", "rewards", "exports"):
            continue
        html = browse(f"/admin/{opts.app_label}/{opts.model_name}/")
        assert " object (" not in html, opts.label


def test_rankings_by_review_status_agreement_labeler_and_text(rated_project, browse, labeler, other_labeler):
    url = "/admin/labeling/ranking/"
    rejected = Ranking.objects.get(review_status="rejected")
    assert listed_ids(browse(f"{url}?review_status=rejected")) == [rejected.pk]
    # "Prompt 0" has its stored agreement set to 3 of 6 pairs (its rejected ranking took the real one out); the
    # other two were ranked fully alike.
    PromptAgreement.objects.filter(prompt__messages__0__content="Prompt 0").update(agreeing_pairs=3, pairs=6)
    mid = Ranking.objects.filter(prompt__messages__0__content="Prompt 0")
    assert listed_ids(browse(f"{url}?agreement=mid")) == sorted(mid.values_list("pk", flat=True))
    assert len(listed_ids(browse(f"{url}?agreement=high"))) == 4
    assert listed_ids(browse(f"{url}?agreement=low")) == listed_ids(browse(f"{url}?agreement=none")) == []
    assert listed_ids(browse(f"{url}?q=labeler2")) == sorted(
        Ranking.objects.filter(labeler=other_labeler).values_list("pk", flat=True))
    assert listed_ids(browse(f"{url}?q=%22Prompt 1%22")) == sorted(
        Ranking.objects.filter(prompt__messages__0__content="Prompt 1").values_list("pk", flat=True))
    assert listed_ids(browse(f"{url}?gold=yes")) == []
    html = browse(f"{url}?review_status=rejected")
    assert f"Ranking {rejected.pk} of prompt {rejected.prompt_id} by labeler1" in html


def test_prompts_and_candidates_by_agreement_and_text(rated_project, browse):
    # "Prompt 0" lost its agreement with its rejected ranking; the other two were ranked fully alike.
    assert len(listed_ids(browse("/admin/labeling/prompt/?agreement=high"))) == 2
    PromptAgreement.objects.filter(prompt__messages__0__content="Prompt 0").update(agreeing_pairs=2, pairs=6)
    assert len(listed_ids(browse("/admin/labeling/prompt/?agreement=low"))) == 1
    assert len(listed_ids(browse("/admin/labeling/prompt/?q=%22Prompt 2%22"))) == 1
    assert len(listed_ids(browse("/admin/labeling/candidate/?q=%22Prompt 2 / answer 1%22"))) == 1


def test_review_fields_change_only_through_the_review_queue(rated_project, browse):
    ranking = Ranking.objects.get(review_status="rejected")
    html = browse(f"/admin/labeling/ranking/{ranking.pk}/change/")
    assert 'name="review_status"' not in html and "Off" in html
