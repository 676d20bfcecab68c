"""POST /v1/chat/completions: OpenAI-shaped answers from the project's generator, and the intake filters."""
import json
import time

import pytest

from intake import views
from intake.models import ApiUser, Filing, IntakeRecord
from labeling.models import Prompt, PromptSource, PromptState
from tests.intake.conftest import ask, call

pytestmark = pytest.mark.postgres


def test_it_answers_like_openai_and_files_the_prompt_as_api(postgres, api_user, send):
    response, queued = send(api_user.token, ask("Say hello to the world."))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    assert body["choices"][0]["message"]["role"] == "assistant" and body["choices"][0]["finish_reason"] == "stop"
    assert isinstance(body["choices"][0]["message"]["content"], str)
    assert response["X-Rankwise-Intake"] == "queued" and queued == 1
    prompt = Prompt.objects.get()
    assert prompt.source == PromptSource.API and prompt.messages == [{"role": "user", "content": "Say hello to the world."}]
    assert prompt.state == PromptState.AWAITING_CANDIDATES  # into the pipeline like any prompt
    assert prompt.split_group == f"api-user:{api_user.pk}" and prompt.intake.api_user == api_user
    assert Filing.objects.get().status == "stored"


def test_server_timing_splits_the_call_into_its_parts(postgres, api_user):
    response = call(api_user.token, ask("Say hello."))
    parts = dict(item.strip().split(";dur=") for item in response["Server-Timing"].split(","))
    assert list(parts) == ["auth", "request", "generation", "intake"] and all(float(ms) >= 0 for ms in parts.values())


def test_the_filing_is_queued_after_the_answer_not_done_before_it(postgres, api_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = call(api_user.token, ask("Say hello to the world."))
    assert response.status_code == 200 and response["X-Rankwise-Intake"] == "queued" and len(queued) == 1
    assert not Prompt.objects.exists()  # the worker files it; the caller waited for none of it
    filing = Filing.objects.get()  # the outbox's row, which the queued message names
    assert (filing.status, filing.api_user, filing.project_id) == ("queued", api_user, api_user.project_id)
    assert filing.messages == [{"role": "user", "content": "Say hello to the world."}]


def test_a_filing_that_cannot_be_written_costs_the_filing_not_the_answer(postgres, api_user, send, monkeypatch):
    from django.db import OperationalError

    def database_down(**fields):
        raise OperationalError("connection refused")

    monkeypatch.setattr(Filing.objects, "create", database_down)
    response, queued = send(api_user.token, ask("Say hello to the world."))
    assert response.status_code == 200 and response["X-Rankwise-Intake"] == "not_queued" and queued == 0
    assert response.json()["choices"][0]["message"]["content"]


def test_without_consent_it_answers_and_queues_and_stores_nothing(postgres, api_user, send):
    ApiUser.objects.filter(pk=api_user.pk).update(consent=False)
    response, queued = send(api_user.token, ask("Say hello to the world."))
    assert response.status_code == 200 and response["X-Rankwise-Intake"] == "no_consent"
    assert queued == 0  # not even the broker holds it
    assert not Filing.objects.exists() and not Prompt.objects.exists() and not IntakeRecord.objects.exists()


def test_personal_data_is_masked_before_filing(postgres, api_user, send):
    response, _ = send(api_user.token, ask("Email jane@example.com or call 555-123-4567 about the sea."))
    assert response["X-Rankwise-Intake"] == "queued"
    assert Prompt.objects.get().messages[0]["content"] == "Email [EMAIL] or call [PHONE] about the sea."
    assert IntakeRecord.objects.get().masked == ["EMAIL", "PHONE"]


def test_personal_data_refuses_the_prompt_when_so_configured(postgres, api_user, settings, send):
    settings.RANKWISE_INTAKE_PERSONAL_DATA = "refuse"
    response, queued = send(api_user.token, ask("My email is jane@example.com"))
    assert response.status_code == 200 and response["X-Rankwise-Intake"] == "refused_personal_data"
    assert queued == 0 and not Filing.objects.exists() and not Prompt.objects.exists()


def test_near_duplicates_and_prompts_past_the_cap_are_not_filed(postgres, api_user, intake_project, send):
    long = "Write a short poem about the sea, in the voice of an old lighthouse keeper who has seen"
    send(api_user.token, ask(long + " many storms."))
    send(api_user.token, ask(long.upper() + " a few ships."))
    _, token = ApiUser.objects.create_with_token(name="other", project=intake_project, consent=True, prompt_cap=2)
    for text in (long + " nothing at all", "Say hello.", "Explain gravity.", "Explain gravity to a child."):
        response, queued = send(token, ask(text))
        assert response["X-Rankwise-Intake"] == "queued" and queued == 1
    filed = sorted(p.messages[0]["content"] for p in Prompt.objects.all())
    assert filed == ["Explain gravity.", "Say hello.", long + " many storms."]


def test_the_default_cap_is_200(postgres, api_user):
    assert api_user.prompt_cap == 200


def test_streaming_sends_openai_chunks_then_done(postgres, api_user, send):
    response, _ = send(api_user.token, ask("Say hello.", stream=True))
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    events = [line[len("data: "):] for line in b"".join(response.streaming_content).decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert response["X-Rankwise-Intake"] == "queued" and Prompt.objects.get().source == PromptSource.API


@pytest.mark.parametrize("header, code", [
    (None, "missing_api_key"), ("Token abc", "missing_api_key"), ("Bearer rw-not-a-real-token", "invalid_api_key"),
])
def test_bad_tokens_are_refused_with_a_clear_401(postgres, api_user, header, code):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}
    response = call(None, ask("Say hello."), **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code and response.json()["error"]["type"] == "authentication_error"
    assert not Prompt.objects.exists()


def test_a_revoked_token_is_refused(postgres, api_user):
    ApiUser.objects.filter(pk=api_user.pk).update(is_active=False)
    assert call(api_user.token, ask("Say hello.")).status_code == 401


def test_a_known_token_costs_no_query_and_its_revocation_counts_once_the_lookup_expires(
        postgres, api_user, monkeypatch, django_assert_num_queries, settings):
    settings.RANKWISE_INTAKE_TOKEN_CACHE_SECONDS = 5
    ApiUser.objects.filter(pk=api_user.pk).update(consent=False)  # no filing to queue: only the lookup is left
    assert call(api_user.token, ask("Say hello.")).status_code == 200
    with django_assert_num_queries(0):
        assert call(api_user.token, ask("Say hello.")).status_code == 200
    ApiUser.objects.filter(pk=api_user.pk).update(is_active=False)
    assert call(api_user.token, ask("Say hello.")).status_code == 200  # within RANKWISE_INTAKE_TOKEN_CACHE_SECONDS
    later = time.monotonic() + 5.1
    monkeypatch.setattr(views.time, "monotonic", lambda: later)
    assert call(api_user.token, ask("Say hello.")).status_code == 401


def test_without_the_cache_every_call_looks_the_token_up(postgres, api_user, settings):
    settings.RANKWISE_INTAKE_TOKEN_CACHE_SECONDS = 0
    assert call(api_user.token, ask("Say hello.")).status_code == 200
    ApiUser.objects.filter(pk=api_user.pk).update(is_active=False)
    assert call(api_user.token, ask("Say hello.")).status_code == 401


def test_an_oversized_body_is_refused_with_413_and_nothing_stored(postgres, api_user, settings):
    settings.RANKWISE_INTAKE_MAX_BODY_BYTES = 2048
    response = call(api_user.token, ask("x" * 5000))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and "limit is 2048" in error["message"]
    assert not Prompt.objects.exists()


@pytest.mark.parametrize("body, param", [
    ("{not json", None),
    ({"model": "tiny"}, "messages"),
    ({"model": "tiny", "messages": [{"role": "robot", "content": "hi"}]}, "messages"),
    ({"model": "tiny", "messages": [{"role": "user", "content": ""}]}, "messages[0].content"),
    ({"model": "tiny", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (ask("hi", temperature=9), "temperature"),
    (ask("hi", max_tokens=0), "max_tokens"),
    (ask("hi", stream="yes"), "stream"),
    (ask("hi", n=3), "n"),
    (ask("hi", model="gpt-4"), "model"),
])
def test_bad_requests_name_the_parameter_and_store_nothing(postgres, api_user, body, param):
    response = call(api_user.token, body)
    assert response.status_code in (400, 404), response.content
    assert response.json()["error"]["param"] == param
    assert not Prompt.objects.exists()


def test_a_generator_that_cannot_load_is_a_503_not_a_500(postgres, api_user, intake_project, tmp_path):
    generation = intake_project.generation
    generation["generators"][0]["model"] = str(tmp_path / "no-such-model")
    intake_project.generation = generation
    intake_project.save()
    response = call(api_user.token, ask("Say hello."))
    assert response.status_code == 503 and response.json()["error"]["code"] == "generator_unavailable"
    assert not Prompt.objects.exists()
