"""Importing prompts: JSONL and CSV, from the API, the admin page and the command line. All or nothing."""
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from exports.models import ImportJob
from exports.tasks import run_import_job
from labeling.models import Candidate, Prompt, PromptState
from tests.conftest import client_for

GOOD_LINES = [
    {"prompt": "Explain tides."},
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                  {"role": "user", "content": "Tell me a joke"}]},
    {"prompt": "Name a colour.", "candidates": ["Red.", "Blue.", "Seven.", "<script>alert(1)</script>"],
     "model_name": "other-system", "id": "ext-3"},
]


def jsonl(lines):
    return "\n".join(json.dumps(line) if isinstance(line, dict) else line for line in lines).encode()


def upload(admin_user, project, content, name="prompts.jsonl"):
    """Upload through the API; a file that passes the check is stored by its job, run here in-process."""
    response = client_for(admin_user).post(f"/api/projects/{project.pk}/import/",
                                           {"file": SimpleUploadedFile(name, content)}, format="multipart")
    if response.status_code == 202:
        run_import_job(response.json()["id"])
    return response


def test_it_imports_prompts_with_and_without_candidates(admin_user, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = upload(admin_user, project, jsonl(GOOD_LINES))
    assert response.status_code == 202 and response.json()["prompts_total"] == 3
    job = client_for(admin_user).get(f"/api/imports/{response.json()['id']}/").json()
    assert job["status"] == "succeeded" and job["prompts_done"] == 3 and job["progress_percent"] == 100
    ranked = Prompt.objects.get(external_id="ext-3")
    assert ranked.state == PromptState.READY and ranked.source == "imported"
    assert list(ranked.candidates.values_list("text", flat=True))[3] == "<script>alert(1)</script>"
    assert ranked.candidates.first().model_name == "other-system"
    assert Prompt.objects.get(messages__0__content="Hi").messages[2]["content"] == "Tell me a joke"
    assert Prompt.objects.filter(state=PromptState.AWAITING_DEMONSTRATION).count() == 2


def test_a_bad_line_fails_the_whole_import_naming_each_line(admin_user, project):
    lines = [GOOD_LINES[0], "{not json", {"prompt": ""}, {"prompt": "x", "candidates": ["only one"]},
             {"messages": [{"role": "robot", "content": "beep"}]}, {"text": "wrong key"}, {"prompt": "ok",
                                                                                          "kind": "poem"}]
    response = upload(admin_user, project, jsonl(lines))
    assert response.status_code == 400
    errors = response.json()["file"]
    assert [e.split(":")[0] for e in errors] == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]
    assert "not valid JSON" in errors[0] and "must not be empty" in errors[1]
    assert "K=4" in errors[2] and "robot" in errors[3] and "prompt" in errors[4] and "kind" in errors[5]
    assert Prompt.objects.count() == 0 and Candidate.objects.count() == 0


def test_oversize_text_is_refused(admin_user, project, settings):
    settings.RANKWISE_MAX_TEXT_CHARS = 50
    response = upload(admin_user, project, jsonl([{"prompt": "y" * 51}]))
    assert response.status_code == 400 and "limit is 50" in response.json()["file"][0]
    assert Prompt.objects.count() == 0


def test_csv_with_candidate_columns(admin_user, project):
    content = ("prompt,candidate_1,candidate_2,candidate_3,candidate_4\n"
               '"Say hi, politely",Hello.,Hi there.,Yo.,Greetings.\n').encode()
    assert upload(admin_user, project, content, "prompts.csv").status_code == 202
    assert Prompt.objects.get().candidates.count() == 4


def test_labelers_cannot_import(labeler, project):
    response = upload(labeler, project, jsonl(GOOD_LINES))
    assert response.status_code == 403 and Prompt.objects.count() == 0


def test_the_admin_upload_page_lists_bad_lines(admin_user, project):
    client = Client()
    client.force_login(admin_user)
    url = f"/admin/exports/importjob/add/?project={project.pk}"
    response = client.post(url, {"project": project.pk,
                                 "file": SimpleUploadedFile("p.jsonl", jsonl([GOOD_LINES[0], "{oops"]))})
    assert response.status_code == 200 and b"import-errors" in response.content and b"not valid JSON" in response.content
    assert Prompt.objects.count() == 0
    response = client.post(url, {"project": project.pk, "file": SimpleUploadedFile("p.jsonl", jsonl(GOOD_LINES[2:]))})
    assert response.status_code == 302 and ImportJob.objects.get().prompts_total == 1
    run_import_job(ImportJob.objects.get().pk)
    assert Prompt.objects.count() == 1


def test_the_command_imports_and_reports_bad_lines(project, tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_bytes(jsonl(GOOD_LINES[2:]))
    bad.write_bytes(jsonl([GOOD_LINES[0], {"prompt": 3}]))
    call_command("import_prompts", str(good), project=project.name)
    assert Prompt.objects.count() == 1
    with pytest.raises(CommandError, match="line 2"):
        call_command("import_prompts", str(bad), project=project.name)
    with pytest.raises(CommandError, match="--project"):
        call_command("import_prompts", str(good), project="nope")
    assert Prompt.objects.count() == 1
