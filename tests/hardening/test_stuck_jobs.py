"""Jobs no worker will finish are failed with the reason by beat's sweeps, and exports on a database they
cannot run on are refused up front instead of after a wait in the queue."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from config import settings as project_settings
from exports.models import ExportJob, ExportStatus
from exports.tasks import fail_stale_exports, run_export_job
from tests.conftest import client_for


def job(project, **fields):
    return ExportJob.objects.create(project=project, dataset="pairwise", options={"project_id": project.pk,
                                                                                  "dataset": "pairwise"}, **fields)


def test_a_running_export_whose_message_was_redelivered_is_failed_by_the_sweep(project):
    stuck = job(project, status=ExportStatus.RUNNING, started_at=timezone.now() - timedelta(hours=3))
    assert run_export_job(stuck.pk) is None  # the redelivered message leaves a running job alone...
    assert fail_stale_exports() == [stuck.pk]  # ...and the sweep fails it, with the reason
    stuck.refresh_from_db()
    assert stuck.status == ExportStatus.FAILED and "worker was probably killed" in stuck.error
    assert stuck.finished_at is not None


def test_the_sweep_fails_long_queued_jobs_and_leaves_recent_ones(project):
    old = job(project)
    ExportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    recent_running = job(project, status=ExportStatus.RUNNING, started_at=timezone.now())
    recent_queued = job(project)
    assert fail_stale_exports() == [old.pk]
    assert "no worker took the job" in ExportJob.objects.get(pk=old.pk).error
    assert ExportJob.objects.get(pk=recent_running.pk).status == ExportStatus.RUNNING
    assert ExportJob.objects.get(pk=recent_queued.pk).status == ExportStatus.QUEUED


def test_beat_runs_the_export_sweep():
    entries = {entry["task"] for entry in project_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "exports.fail_stale_exports" in entries


@pytest.fixture
def embedded_database(monkeypatch, db):
    monkeypatch.setattr(connection, "vendor", "sqlite")


def test_on_the_embedded_database_an_export_is_refused_at_once_saying_why(project, admin_user, embedded_database):
    response = client_for(admin_user).post("/api/exports/", {"project": project.pk, "dataset": "pairwise"},
                                           format="json")
    assert response.status_code == 400 and "PostgreSQL" in response.json()["database"][0]
    assert not ExportJob.objects.exists()


def test_on_the_embedded_database_the_export_page_says_why_up_front(admin_user, embedded_database):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/exports/exportjob/").content.decode()
    assert "Exports need PostgreSQL" in page and "make run" in page
    assert client.get("/admin/exports/exportjob/add/").status_code == 403
