"""Every format holds the same rows, splits keep each prompt in one split, and the files load with the
libraries that training code uses (pyarrow, Hugging Face datasets)."""
import gzip
import json
import re
import tarfile

import datasets
import pyarrow.parquet as pq
import pytest

from exports import writers
from exports.runner import run_export
from exports.spec import ExportSpec
from labeling.models import Project, Prompt
from tests.conftest import add_ready_prompt
from tests.exports.conftest import rank

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


def spec_for(project, dataset="pairwise", **options):
    return ExportSpec.from_dict({"project_id": project.pk, "dataset": dataset, **options})


def test_it_writes_the_same_rows_in_every_format(tmp_path, ranked_project):
    path, _ = run_export(spec_for(ranked_project, margin=True), tmp_path / "jsonl")
    expected = [json.loads(line) for line in path.read_text().splitlines()]
    path, _ = run_export(spec_for(ranked_project, margin=True, format="jsonl.gz"), tmp_path / "gz")
    assert [json.loads(line) for line in gzip.open(path, "rt")] == expected
    path, _ = run_export(spec_for(ranked_project, margin=True, format="parquet"), tmp_path / "parquet")
    assert pq.read_table(path).to_pylist() == expected
    assert datasets.load_dataset("parquet", data_files=str(path), split="train").to_list() == expected
    path, _ = run_export(spec_for(ranked_project, margin=True, format="hf"), tmp_path / "hf")
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert datasets.load_from_disk(str(tmp_path / "unpacked" / "pairwise")).to_list() == expected


def test_it_writes_parquet_in_row_groups(tmp_path, ranked_project, monkeypatch):
    monkeypatch.setattr(writers, "ROW_GROUP_ROWS", 5)
    path, count = run_export(spec_for(ranked_project, "grouped", format="parquet"), tmp_path)
    assert pq.ParquetFile(path).num_row_groups == 1 and count == 4
    path, count = run_export(spec_for(ranked_project, format="parquet"), tmp_path / "pairs")
    assert count == 22 and pq.ParquetFile(path).num_row_groups == 5


def test_it_splits_by_prompt(tmp_path, admin_user, labeler):
    project = Project.objects.create(name="Split", k=2)
    for i in range(60):
        rank(add_ready_prompt(project, f"Prompt number {i}"), labeler, [1, 2])
    split = {"train": 0.6, "validation": 0.2, "test": 0.2}
    path, count = run_export(spec_for(project, "grouped", format="hf", split=split, seed=7), tmp_path / "a")
    with tarfile.open(path) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    parts = datasets.load_from_disk(str(tmp_path / "unpacked" / "grouped"))
    assert set(parts) == {"train", "validation", "test"} and count == 60
    prompts = {name: {row["prompt"] for row in parts[name]} for name in parts}
    assert sum(len(p) for p in prompts.values()) == 60  # no prompt in two splits
    assert all(5 <= len(prompts[name]) for name in ("validation", "test")) and len(prompts["train"]) >= 25
    # SFT/PPO/pairwise rows of a prompt land in the same split as its grouped rows; the seed decides.
    path, _ = run_export(spec_for(project, "ppo", format="jsonl", split=split, seed=7), tmp_path / "b")
    with tarfile.open(path) as tar:
        names = sorted(tar.getnames())
        ppo_test = {json.loads(line)["prompt"] for line in tar.extractfile("ppo-test.jsonl")}
    assert names == ["ppo-test.jsonl", "ppo-train.jsonl", "ppo-validation.jsonl"]
    assert ppo_test == prompts["test"]
    path, _ = run_export(spec_for(project, "ppo", format="jsonl", split=split, seed=8), tmp_path / "c")
    with tarfile.open(path) as tar:
        assert {json.loads(line)["prompt"] for line in tar.extractfile("ppo-test.jsonl")} != prompts["test"]


def test_prompts_of_one_split_group_share_a_split(tmp_path, labeler):
    # An API user's prompts (split_group "api-user:<id>") go to one split together, whatever their texts.
    project = Project.objects.create(name="Split by user", k=2)
    for user in range(6):
        for i in range(5):
            prompt = add_ready_prompt(project, f"User {user} asks question {i}")
            Prompt.objects.filter(pk=prompt.pk).update(split_group=f"api-user:{user}")
            rank(prompt, labeler, [1, 2])
    split = {"train": 0.5, "test": 0.5}
    path, count = run_export(spec_for(project, "grouped", format="jsonl", split=split, seed=3), tmp_path)
    assert count == 30
    with tarfile.open(path) as tar:
        by_split = {name: [json.loads(line)["prompt"] for line in tar.extractfile(f"grouped-{name}.jsonl")]
                    for name in split if f"grouped-{name}.jsonl" in tar.getnames()}
    splits_of_user = {}
    for name, prompts in by_split.items():
        for text in prompts:
            splits_of_user.setdefault(re.search(r"User (\d+) asks", text).group(1), set()).add(name)
    assert sum(len(prompts) for prompts in by_split.values()) == 30 and len(splits_of_user) == 6
    assert all(len(splits) == 1 for splits in splits_of_user.values())
    assert len(by_split) == 2  # 6 users over two halves: both get some (with seed 3)
