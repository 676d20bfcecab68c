"""The intake's outbox: a call's filing is a row before it is a message, so a message the broker never took
is sent again by beat's sweep (intake.tasks.requeue_pending_filings), and the filing still happens once."""
from datetime import timedelta

import pytest
from celery.canvas import Signature
from django.db.models import F
from kombu.exceptions import OperationalError

from intake.filing import PENDING_GRACE
from intake.models import Filing
from intake.tasks import file_prompt, requeue_pending_filings
from labeling.models import Prompt
from tests.intake.conftest import ask, pending

pytestmark = pytest.mark.postgres


def age(filings, by):
    filings.update(created_at=F("created_at") - by)


def test_a_filing_the_broker_did_not_take_is_filed_by_the_sweep_once(postgres, api_user, send, monkeypatch, caplog):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(Signature, "apply_async", broker_down)
        response, queued = send(api_user.token, ask("Say hello to the world."))
    assert response.status_code == 200 and response["X-Rankwise-Intake"] == "queued" and queued == 1
    assert "was not queued" in caplog.text
    filing = Filing.objects.get()
    assert filing.status == "queued" and filing.messages == [{"role": "user", "content": "Say hello to the world."}]
    assert not Prompt.objects.exists()

    assert requeue_pending_filings() == 0  # its message may still be on its way
    age(Filing.objects.all(), PENDING_GRACE + timedelta(seconds=1))
    assert requeue_pending_filings() == 1  # runs the filing at once: the tests' tasks are eager
    filing.refresh_from_db()
    assert filing.status == "stored" and filing.messages == []
    assert Prompt.objects.get().messages == [{"role": "user", "content": "Say hello to the world."}]

    assert requeue_pending_filings() == 0
    assert file_prompt(filing.pk) is None  # the lost message, had it turned up after all
    assert Prompt.objects.count() == 1


def test_the_sweep_sends_only_pending_filings_past_the_grace(postgres, api_user, eager):
    late, recent, done = (pending(api_user, text) for text in ("One?", "Two?", "Three?"))
    file_prompt(done.pk)
    age(Filing.objects.exclude(pk=recent.pk), PENDING_GRACE + timedelta(seconds=1))
    assert requeue_pending_filings() == 1
    assert dict(Filing.objects.values_list("pk", "status")) == {late.pk: "stored", recent.pk: "queued",
                                                                 done.pk: "stored"}
    assert Prompt.objects.count() == 2


def test_the_sweeps_copies_expire_by_the_next_sweep(postgres, api_user, monkeypatch):
    sent = []
    monkeypatch.setattr(file_prompt, "apply_async", lambda args, **options: sent.append((args, options)))
    late = pending(api_user, "One?")
    age(Filing.objects.all(), PENDING_GRACE * 2)
    assert requeue_pending_filings() == 1
    assert sent == [((late.pk,), {"expires": PENDING_GRACE.total_seconds()})]


def test_beat_runs_the_sweep_every_minute(settings):
    (entry,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == requeue_pending_filings.name]
    assert entry["schedule"] == PENDING_GRACE.total_seconds() and entry["options"]["expires"] < entry["schedule"]
