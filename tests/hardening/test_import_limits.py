"""Imports: the upload and its expansion are limited, and malformed files (that used to be server errors)
are a 400 naming the line and the reason, with nothing stored and no upload kept."""
import gzip
import io
import json
import tarfile

import pytest

from exports.models import ImportJob, import_root
from labeling.models import Project, Prompt
from tests.conftest import client_for

GOOD = {"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}


def jsonl(*records):
    return b"\n".join(json.dumps(r).encode() if isinstance(r, dict) else r for r in records) + b"\n"


def tar_of(files, mode="w"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def grouped(**extra):
    return {"prompt": "Which?", "candidates": ["a", "b"], "tiers": [1, 2], **extra}


BOMB = b"\n" * (3 * 1024 * 1024)  # compresses to a few KB
CASES = [
    ("not-gzip.jsonl.gz", jsonl(GOOD), 1, "cannot be read"),
    ("truncated.jsonl.gz", gzip.compress(jsonl(GOOD, GOOD))[:-12], 1, "cannot be read"),
    ("bomb.jsonl.gz", gzip.compress(BOMB), 1, "expands past"),
    ("one-endless-line.jsonl.gz", gzip.compress(b"x" * (3 * 1024 * 1024)), 1, "expands past"),
    ("not.parquet", jsonl(GOOD), 1, "cannot be read"),
    ("not.tar", jsonl(GOOD), 1, "cannot be read"),
    ("bomb.tar", tar_of({"a.jsonl": BOMB}, mode="w:xz"), 1, "expand past"),
    ("escape.tar", tar_of({"../../escape.jsonl": jsonl(GOOD)}), 1, "cannot be read"),
    ("nul.jsonl", jsonl(GOOD, {"prompt": "a\u0000b"}), 2, "NUL"),
    ("long-id.jsonl", jsonl({"prompt": "x", "id": "i" * 201}), 1, "id"),
    ("long-use-case.jsonl", jsonl({"prompt": "x", "use_case": "u" * 501}), 1, "use_case"),
    ("big-time.jsonl", jsonl(grouped(time_spent_ms=2**31)), 1, "time_spent_ms"),
    ("bad-date.jsonl", jsonl(grouped(created_at="2025-13-45T00:00:00")), 1, "created_at"),
    ("object-flag.jsonl", jsonl(grouped(flags=[[{"x": 1}], []])), 1, "unknown flags"),
    ("big-seed.jsonl", jsonl(grouped(seeds=[2**63, 1])), 1, "seeds[0]"),
    ("nul-labeler.jsonl", jsonl(grouped(labeler="a\u0000")), 1, "labeler"),
    ("nul-sampling.jsonl", jsonl(grouped(sampling=[{"model": "m\u0000"}, {}])), 1, "sampling[0]"),
    ("deep.jsonl", jsonl(GOOD, b"[" * 5000 + b"]" * 5000), 2, "JSON"),
    ("latin1.csv", "prompt\nCaf\u00e9 au lait?\n".encode("latin-1"), 2, "UTF-8"),
]


@pytest.fixture
def project(db):
    """Pairs and the two-candidate rankings below need a project that ranks K=2."""
    return Project.objects.create(name="Pairs", k=2)


@pytest.fixture
def uploads(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RANKWISE_MAX_IMPORT_EXPANDED_BYTES = 1024 * 1024


def post(client, project, name, content):
    upload = io.BytesIO(content)
    upload.name = name
    return client.post("/api/datasets/import/", {"project": project.pk, "file": upload}, format="multipart")


@pytest.mark.parametrize("name, content, line, reason", CASES, ids=[c[0] for c in CASES])
def test_a_malformed_file_is_a_400_naming_the_line_and_nothing_is_kept(admin_user, project, uploads, name, content,
                                                                       line, reason):
    response = post(client_for(admin_user), project, name, content)
    assert response.status_code == 400, response.content
    message = response.json()["file"][0]
    assert message.startswith(f"line {line}:") and reason in message, message
    assert not Prompt.objects.exists() and not ImportJob.objects.exists()
    assert not any(import_root().glob("*/*"))  # the upload is gone too


def test_an_upload_over_the_limit_is_refused_before_it_is_read(admin_user, project, uploads, settings):
    settings.RANKWISE_MAX_UPLOAD_BYTES = 10_000
    response = post(client_for(admin_user), project, "big.jsonl", jsonl(*[GOOD] * 500))
    assert response.status_code == 413 and "body" in response.json()
    assert not ImportJob.objects.exists()


def test_a_good_file_is_queued_as_a_job_with_its_size(admin_user, project, uploads, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client_for(admin_user), project, "pairs.jsonl", jsonl(*[GOOD] * 20))
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert response.json()["prompts_total"] == 20 and len(callbacks) == 1
    assert not Prompt.objects.exists()  # the worker stores it


def test_a_file_too_big_to_check_in_the_request_is_checked_by_its_job(admin_user, project, uploads, settings,
                                                                     django_capture_on_commit_callbacks):
    from exports.tasks import run_import_job

    settings.RANKWISE_IMPORT_CHECK_BYTES = 2048
    content = jsonl(*[GOOD] * 100, {"prompt": "x", "chosen": 3, "rejected": "y"})
    with django_capture_on_commit_callbacks(execute=False):
        response = post(client_for(admin_user), project, "big.jsonl", content)
    assert response.status_code == 202
    run_import_job(response.json()["id"])
    job = ImportJob.objects.get()
    assert job.status == "failed" and job.errors == [[101, "chosen: must be a string"]]
    assert not Prompt.objects.exists() and not any(import_root().glob("*/*"))


def test_a_bomb_too_big_to_check_in_the_request_fails_its_job(admin_user, project, uploads, settings,
                                                            django_capture_on_commit_callbacks):
    from exports.tasks import run_import_job

    settings.RANKWISE_IMPORT_CHECK_BYTES = 2048
    with django_capture_on_commit_callbacks(execute=False):
        response = post(client_for(admin_user), project, "bomb.jsonl.gz", gzip.compress(BOMB))
    assert response.status_code == 202
    run_import_job(response.json()["id"])
    job = ImportJob.objects.get()
    assert job.status == "failed" and "expands past" in job.errors[0][1] and not Prompt.objects.exists()
