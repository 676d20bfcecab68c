"""The export and import endpoints, the download view, the Celery task and the management commands."""
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from exports.models import ExportJob, ExportStatus, InvalidTransition
from exports.spec import ExportSpec
from exports.tasks import run_export_job
from labeling.models import Project, Prompt, Ranking
from tests.conftest import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


@pytest.fixture
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_only_admins_export(ranked_project, labeler):
    body = {"project": ranked_project.pk, "dataset": "pairwise"}
    assert client_for(None).post("/api/exports/", body, format="json").status_code in (401, 403)
    assert client_for(labeler).post("/api/exports/", body, format="json").status_code == 403
    assert client_for(labeler).get("/api/exports/").status_code == 403
    assert not ExportJob.objects.exists()


def test_bad_options_name_the_field(ranked_project, admin_user):
    client = client_for(admin_user)
    response = client.post("/api/exports/", {"project": ranked_project.pk, "dataset": "nope"}, format="json")
    assert response.status_code == 400 and "dataset" in response.json()
    response = client.post("/api/exports/", {"project": ranked_project.pk, "dataset": "grouped",
                                             "split": {"train": 0.5, "test": 0.2}}, format="json")
    assert response.status_code == 400 and "add up to 1" in json.dumps(response.json()["split"])
    response = client.post("/api/exports/", {"project": ranked_project.pk, "dataset": "grouped",
                                             "filters": {"kinds": ["poem"]}}, format="json")
    assert response.status_code == 400 and "filters" in json.dumps(response.json())
    assert not ExportJob.objects.exists()


def test_an_admin_exports_and_downloads(ranked_project, admin_user, media):
    client = client_for(admin_user)
    client.force_login(admin_user)  # the download is a plain Django view: session login
    response = client.post("/api/exports/", {"project": ranked_project.pk, "dataset": "pairwise",
                                             "format": "jsonl", "margin": True}, format="json")
    assert response.status_code == 201, response.json()
    status = client.get(f"/api/exports/{response.json()['id']}/").json()
    assert status["status"] == "succeeded" and status["rows_written"] == status["rows_total"] == 22
    assert status["progress_percent"] == 100
    download = client.get(status["download_url"])
    assert download.status_code == 200
    rows = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    assert len(rows) == 22 and set(rows[0]) == {"prompt", "chosen", "rejected", "margin"}
    # A redelivered task finds the job done and does nothing.
    assert run_export_job(status["id"]) is None
    with pytest.raises(InvalidTransition):
        ExportJob.objects.get(pk=status["id"]).run()


def test_the_download_is_for_admins(ranked_project, admin_user, labeler, media, client):
    job = ExportJob.create(ExportSpec.from_dict({"project_id": ranked_project.pk, "dataset": "ppo"}), admin_user)
    job.refresh_from_db()
    url = reverse("export-download", args=[job.pk])
    client.force_login(labeler)
    assert client.get(url).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_a_failed_export_records_the_error(ranked_project, admin_user, media, monkeypatch):
    from exports import models

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("exports.runner.run_export", explode)
    job = ExportJob.objects.create(project=ranked_project, dataset="ppo", format="jsonl",
                                   options={"project_id": ranked_project.pk, "dataset": "ppo"})
    with pytest.raises(OSError):
        run_export_job(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "disk full" in job.error and job.finished_at
    assert not models.EXPORT_STATES.table[ExportStatus.FAILED]


def test_the_admin_page_shows_progress_and_the_link(ranked_project, admin_user, media, client):
    client.force_login(admin_user)
    response = client.post("/admin/exports/exportjob/add/", {
        "project": ranked_project.pk, "dataset": "grouped", "format": "parquet", "options": "{}"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.SUCCEEDED and job.created_by == admin_user
    page = client.get("/admin/exports/exportjob/").content.decode()
    assert "<progress" in page and reverse("export-download", args=[job.pk]) in page
    bad = client.post("/admin/exports/exportjob/add/", {
        "project": ranked_project.pk, "dataset": "grouped", "format": "parquet",
        "options": '{"split": {"train": 2}}'})
    assert bad.status_code == 200 and "add up to 1" in bad.content.decode()


def test_the_import_endpoint(admin_user, labeler, media):
    project = Project.objects.create(name="Pairs", k=2)
    lines = b'{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}\n'
    upload = io.BytesIO(lines)
    upload.name = "pairs.jsonl"
    assert client_for(labeler).post("/api/datasets/import/", {"project": project.pk, "file": upload},
                                    format="multipart").status_code == 403
    upload.seek(0)
    response = client_for(admin_user).post("/api/datasets/import/", {"project": project.pk, "file": upload},
                                           format="multipart")
    assert response.status_code == 202 and response.json()["prompts_total"] == 1
    job = client_for(admin_user).get(response.headers["Location"]).json()  # the worker ran it (eager here)
    assert job["status"] == "succeeded" and job["prompts_done"] == 1 and job["rankings"] == 1
    bad = io.BytesIO(lines + b'{"prompt": "x", "chosen": 3, "rejected": "y"}\n')
    bad.name = "pairs.jsonl"
    response = client_for(admin_user).post("/api/datasets/import/", {"project": project.pk, "file": bad},
                                           format="multipart")
    assert response.status_code == 400 and response.json()["file"][0].startswith("line 2: chosen")
    assert Prompt.objects.count() == 1


def test_the_commands_export_and_import(tmp_path, ranked_project, media):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_dataset", "--project", ranked_project.name, "--dataset", "grouped", "--format",
                 "parquet", "--output", str(tmp_path / "grouped.parquet"), stdout=out, stderr=err)
    assert "4 rows" in out.getvalue() and "rows" in err.getvalue()  # tqdm's bar goes to stderr
    assert ExportJob.objects.get().status == ExportStatus.SUCCEEDED
    Project.objects.create(name="Copy", k=4)
    call_command("import_dataset", str(tmp_path / "grouped.parquet"), "--project", "Copy", stdout=out)
    assert Ranking.objects.filter(prompt__project__name="Copy").count() == 4
