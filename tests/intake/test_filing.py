"""The worker's part of the intake (intake.filing.file_prompt): the cap, the deduplication and consent, read
under the filing's and the user's row locks, hold when filings run at the same moment on several workers;
each filing gets its outcome once, and its conversation is not kept after it."""
import pytest

from intake import filing
from intake.filing import Outcome
from intake.models import ApiUser, Filing, IntakeRecord
from labeling.models import Prompt
from tests.conftest import at_the_same_moment
from tests.intake.conftest import pending

pytestmark = pytest.mark.postgres

LONG = "Write a short poem about the sea, in the voice of an old lighthouse keeper who has seen"


def file_text(api_user, text, found=()):
    return filing.file_prompt(pending(api_user, text, found).pk)


def test_outcomes_in_turn(postgres, api_user, intake_project):
    assert file_text(api_user, LONG + " many storms.") == Outcome.STORED
    assert file_text(api_user, LONG.upper() + " ships.") == Outcome.DUPLICATE
    other, _ = ApiUser.objects.create_with_token(name="other", project=intake_project, consent=True, prompt_cap=1)
    assert file_text(other, LONG + ", none.") == Outcome.DUPLICATE  # across users
    assert file_text(other, "Say hello.", ["EMAIL"]) == Outcome.STORED
    assert file_text(other, "Explain gravity.") == Outcome.CAP_REACHED
    assert IntakeRecord.objects.get(api_user=other).masked == ["EMAIL"]
    assert Prompt.objects.count() == 2
    assert sorted(Filing.objects.filter(api_user=other).values_list("status", flat=True)) == [
        "cap_reached", "duplicate", "stored"]


def test_an_outcome_empties_the_filings_conversation(postgres, api_user):
    stored, duplicate = pending(api_user, "Say hello."), pending(api_user, "Say hello!")
    for each in (stored, duplicate):
        filing.file_prompt(each.pk)
        each.refresh_from_db()
        assert each.messages == [] and each.finished_at is not None
    assert (stored.status, duplicate.status) == ("stored", "duplicate")
    assert Prompt.objects.get().messages == [{"role": "user", "content": "Say hello."}]  # the pool's own copy


def test_consent_withdrawn_after_the_call_files_nothing(postgres, api_user):
    queued = pending(api_user, "Say hello.")
    ApiUser.objects.filter(pk=api_user.pk).update(consent=False)
    assert filing.file_prompt(queued.pk) == Outcome.NO_CONSENT
    queued.refresh_from_db()
    assert queued.status == "no_consent" and queued.messages == []
    deleted = pending(api_user, "Say hello again.")
    ApiUser.objects.filter(pk=api_user.pk).delete()  # its filings go with it
    assert filing.file_prompt(deleted.pk) is None
    assert not Prompt.objects.exists() and not Filing.objects.exists()


def test_a_redelivered_message_files_once(postgres, api_user):
    from intake.tasks import file_prompt

    queued = pending(api_user, "Say hello.")
    assert file_prompt(queued.pk) == "stored"
    assert file_prompt(queued.pk) is None  # finds it filed: not even a duplicate
    assert Prompt.objects.count() == 1 and Filing.objects.get().status == "stored"


def test_a_filing_the_task_gives_up_on_is_failed_with_its_error(postgres, api_user, monkeypatch):
    from intake.tasks import file_prompt

    def broken(filing):
        raise RuntimeError("a bug")

    monkeypatch.setattr(filing, "_outcome", broken)
    queued = pending(api_user, "Say hello.")
    file_prompt.apply((queued.pk,))
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.error == "RuntimeError: a bug" and queued.messages == []
    assert filing.record_failure(queued.pk, "again") == 0  # an outcome is final


@pytest.fixture
def shared_user(transactional_db, postgres, intake_project):
    user, _ = ApiUser.objects.create_with_token(name="busy", project=intake_project, consent=True, prompt_cap=3)
    return user


def test_two_messages_of_one_filing_at_the_same_moment_file_it_once(shared_user):
    queued = pending(shared_user, "Say hello.")
    outcomes = at_the_same_moment([lambda: filing.file_prompt(queued.pk)] * 2)
    # Without the filing's lock the second would file it again, and find it a duplicate of itself.
    assert sorted(outcomes, key=str) == [None, Outcome.STORED]
    assert Prompt.objects.count() == 1


def test_one_users_filings_at_the_same_moment_stop_at_the_cap(shared_user):
    filings = [pending(shared_user, f"Question {n}?") for n in range(10)]
    outcomes = at_the_same_moment([lambda f=f: filing.file_prompt(f.pk) for f in filings])
    assert sorted(outcomes).count(Outcome.STORED) == 3 and outcomes.count(Outcome.CAP_REACHED) == 7
    assert IntakeRecord.objects.filter(api_user=shared_user).count() == 3 == Prompt.objects.count()


def test_the_same_prefix_from_many_users_at_once_is_filed_once(shared_user, intake_project):
    users = [ApiUser.objects.create_with_token(name=f"u{n}", project=intake_project, consent=True)[0]
             for n in range(6)]
    filings = [pending(u, LONG + f" {u.pk}") for u in users]
    outcomes = at_the_same_moment([lambda f=f: filing.file_prompt(f.pk) for f in filings])
    assert outcomes.count(Outcome.STORED) == 1 and outcomes.count(Outcome.DUPLICATE) == 5
    assert Prompt.objects.count() == 1
