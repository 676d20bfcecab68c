"""The worker's part of the intake (intake.filing.file_prompt): the cap, the deduplication and consent, read
under the user's row lock, hold when filings of one user run at the same moment on several workers."""
import pytest

from intake import filing
from intake.filing import Outcome
from intake.models import ApiUser, IntakeRecord
from labeling.models import Prompt
from tests.conftest import at_the_same_moment

pytestmark = pytest.mark.postgres


def conversation(text):
    return [{"role": "user", "content": text}]


LONG = "Write a short poem about the sea, in the voice of an old lighthouse keeper who has seen"


def test_outcomes_in_turn(postgres, api_user, intake_project):
    assert filing.file_prompt(api_user.pk, conversation(LONG + " many storms."), []) == Outcome.STORED
    assert filing.file_prompt(api_user.pk, conversation(LONG.upper() + " ships."), []) == Outcome.DUPLICATE
    other, _ = ApiUser.objects.create_with_token(name="other", project=intake_project, consent=True, prompt_cap=1)
    assert filing.file_prompt(other.pk, conversation(LONG + ", none."), []) == Outcome.DUPLICATE  # across users
    assert filing.file_prompt(other.pk, conversation("Say hello."), ["EMAIL"]) == Outcome.STORED
    assert filing.file_prompt(other.pk, conversation("Explain gravity."), []) == Outcome.CAP_REACHED
    assert IntakeRecord.objects.get(api_user=other).masked == ["EMAIL"]
    assert Prompt.objects.count() == 2


def test_consent_withdrawn_after_the_call_files_nothing(postgres, api_user):
    ApiUser.objects.filter(pk=api_user.pk).update(consent=False)
    assert filing.file_prompt(api_user.pk, conversation("Say hello."), []) == Outcome.NO_CONSENT
    ApiUser.objects.filter(pk=api_user.pk).delete()
    assert filing.file_prompt(api_user.pk, conversation("Say hello."), []) == Outcome.GONE
    assert not Prompt.objects.exists()


def test_a_redelivered_filing_is_a_duplicate_of_the_first(postgres, api_user):
    from intake.tasks import file_prompt

    assert file_prompt(api_user.pk, conversation("Say hello."), []) == "stored"
    assert file_prompt(api_user.pk, conversation("Say hello."), []) == "duplicate"
    assert Prompt.objects.count() == 1


@pytest.fixture
def shared_user(transactional_db, postgres, intake_project):
    user, _ = ApiUser.objects.create_with_token(name="busy", project=intake_project, consent=True, prompt_cap=3)
    return user


def test_one_users_filings_at_the_same_moment_stop_at_the_cap(shared_user):
    outcomes = at_the_same_moment([lambda n=n: filing.file_prompt(shared_user.pk, conversation(f"Question {n}?"), [])
                                   for n in range(10)])
    assert sorted(outcomes).count(Outcome.STORED) == 3 and outcomes.count(Outcome.CAP_REACHED) == 7
    assert IntakeRecord.objects.filter(api_user=shared_user).count() == 3 == Prompt.objects.count()


def test_the_same_prefix_from_many_users_at_once_is_filed_once(shared_user, intake_project):
    users = [ApiUser.objects.create_with_token(name=f"u{n}", project=intake_project, consent=True)[0]
             for n in range(6)]
    outcomes = at_the_same_moment([lambda u=u: filing.file_prompt(u.pk, conversation(LONG + f" {u.pk}"), [])
                                   for u in users])
    assert outcomes.count(Outcome.STORED) == 1 and outcomes.count(Outcome.DUPLICATE) == 5
    assert Prompt.objects.count() == 1
