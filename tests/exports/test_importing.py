"""Import: pairwise (HH-RLHF), grouped and Open-Assistant rankings become native data; an export imported
into a new project exports identically; a bad file stores nothing and names the line."""
import json
import os

import pytest

from exports.importing import import_file
from exports.runner import run_export
from exports.spec import ExportSpec
from labeling.importing import ImportFailed, import_prompts
from labeling.models import Candidate, Project, Prompt, PromptState, Ranking, Task, TaskState

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


def export(project, folder, dataset, **options):
    spec = ExportSpec.from_dict({"project_id": project.pk, "dataset": dataset, **options})
    return run_export(spec, folder)[0]


def test_it_round_trips_hh_pairs(tmp_path, shared_data):
    source = os.path.join(shared_data, "hh_harmless_pairs.jsonl")
    first = Project.objects.create(name="HH", k=2)
    result = import_file(first, source)
    assert result.prompts == result.rankings == 1703
    # Imported comparisons are native: a done prompt with a submitted rank task per ranking.
    assert Prompt.objects.filter(project=first, state=PromptState.DONE).count() == 1703
    assert Task.objects.filter(project=first, state=TaskState.SUBMITTED).count() == 1703
    exported = export(first, tmp_path / "a", "pairwise", format="parquet")
    # The export is the source file, row for row.
    import pyarrow.parquet as pq
    with open(source) as file:
        assert pq.read_table(exported).to_pylist() == [json.loads(line) for line in file]
    second = Project.objects.create(name="HH again", k=2)
    import_file(second, exported)
    again = export(second, tmp_path / "b", "pairwise", format="parquet")
    assert open(exported, "rb").read() == open(again, "rb").read()


def test_it_round_trips_grouped_rankings_losslessly(tmp_path, ranked_project):
    Candidate.objects.filter(prompt__project=ranked_project, index=0).update(
        model_name="tiny-gpt", model_revision="abc123", sampling={"temperature": 0.7, "top_p": 0.9}, seed=11)
    exported = export(ranked_project, tmp_path / "a", "grouped", format="jsonl.gz")
    copy = Project.objects.create(name="Copy", k=4, overlap=2)
    result = import_file(copy, exported)
    assert (result.prompts, result.rankings) == (2, 4)
    again = export(copy, tmp_path / "b", "grouped", format="jsonl.gz")
    import gzip
    first, second = gzip.open(exported).read(), gzip.open(again).read()
    assert first == second
    assert b'"tiny-gpt"' in first and b"temperature" in first
    # Both labelers' rankings of a prompt were attached to one prompt, which is done (overlap 2 filled).
    assert Prompt.objects.filter(project=copy, state=PromptState.DONE).count() == 2
    pairs = export(copy, tmp_path / "c", "pairwise")
    assert pairs.read_text() == export(ranked_project, tmp_path / "d", "pairwise").read_text()


def test_it_imports_open_assistant_rankings(shared_data, tmp_path):
    with open(os.path.join(shared_data, "oasst_ranked_groups.jsonl")) as file:
        groups = [json.loads(line) for line in file]
    three = [group for group in groups if len(group["responses"]) == 3]
    path = tmp_path / "k3.jsonl"
    path.write_text("".join(json.dumps(group) + "\n" for group in three))
    project = Project.objects.create(name="OASST", k=3)
    result = import_file(project, path)
    assert result.prompts == len(three) > 40
    first = three[0]
    ranking = Ranking.objects.filter(prompt__project=project).order_by("id").first()
    tiers = {r.candidate.text: r.tier for r in ranking.ratings.select_related("candidate")}
    ranks = dict(zip(first["responses"], first["ranks"]))
    assert all((tiers[text] - 1 < tiers[other] - 1) == (ranks[text] < ranks[other])
               for text in ranks for other in ranks)


def test_groups_of_another_k_are_refused_with_their_lines(shared_data, project):
    with pytest.raises(ImportFailed) as failure:
        import_file(project, os.path.join(shared_data, "oasst_ranked_groups.jsonl"))
    assert all("this project ranks K=4" in reason for _, reason in failure.value.errors)
    assert not Prompt.objects.exists()


def test_pairs_into_a_k4_project_are_an_error_not_two_candidates(tmp_path, project):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}\n')
    with pytest.raises(ImportFailed) as failure:
        import_file(project, path)
    assert failure.value.errors == [(1, "chosen: a chosen/rejected pair has 2 responses; this project ranks K=4")]
    assert not Prompt.objects.exists() and not Candidate.objects.exists()


def test_a_bad_file_names_the_line_and_stores_nothing(tmp_path):
    project = Project.objects.create(name="Pairs", k=2)
    path = tmp_path / "bad.jsonl"
    lines = [{"prompt": "fine", "chosen": "a", "rejected": "b"},
             {"prompt": "no rejected", "chosen": "a"},
             {"prompt": "x", "candidates": ["a", "b"], "tiers": [1, 5]},
             "not json {",
             {"prompt": "x", "chosen": "a", "rejected": "b", "margin": 9}]
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines))
    with pytest.raises(ImportFailed) as failure:
        import_file(project, path)
    assert [line for line, _ in failure.value.errors] == [2, 3, 4, 5]
    reasons = dict(failure.value.errors)
    assert "rejected" in reasons[2] and "tier" in reasons[3] and "JSON" in reasons[4] and "margin" in reasons[5]
    assert not Prompt.objects.exists() and not Ranking.objects.exists()


def test_imported_review_outcomes_count_as_they_would_here(tmp_path):
    """A rejected ranking fills no slot and stays out of the agreement, as after a reviewer rejects one
    here; a status that is not one gives an error naming the field, and nothing is stored."""
    project = Project.objects.create(name="Reviewed", k=2, overlap=3)

    def line(labeler, tiers, status):
        return json.dumps({"id": "p1", "prompt": "Hi", "candidates": ["Hello!", "Go away."], "tiers": tiers,
                           "labeler": labeler, "review_status": status})

    path = tmp_path / "reviewed.jsonl"
    path.write_text("\n".join([line("a", [1, 2], "accepted"), line("b", [1, 2], "pending"),
                               line("c", [2, 1], "rejected")]))
    import_file(project, path)
    prompt = Prompt.objects.get(project=project)
    # Two of three slots filled: one open slot waits for a labeler here.
    assert prompt.state == PromptState.READY
    assert Task.objects.filter(prompt=prompt, state=TaskState.OPEN).count() == 1
    assert (prompt.agreement.rankings, prompt.agreement.agreeing_pairs, prompt.agreement.pairs) == (2, 1, 1)
    statuses = dict(Ranking.objects.filter(prompt=prompt).values_list("labeler__username", "review_status"))
    assert sorted(statuses.values()) == ["accepted", "pending", "rejected"]
    assert Ranking.objects.get(prompt=prompt, review_status="pending").queued_for_review_at is not None

    other = Project.objects.create(name="Bad status", k=2)
    path.write_text(line("a", [1, 2], "approved"))
    with pytest.raises(ImportFailed) as failure:
        import_file(other, path)
    assert failure.value.errors == [(1, "review_status: 'approved' is not one of unreviewed, pending, accepted, "
                                        "rejected")]
    assert not Prompt.objects.filter(project=other).exists()


def test_the_prompt_import_api_still_works(project):
    prompts = import_prompts(project, '{"prompt": "Hi", "candidates": ["a", "b", "c", "d"]}\n', "x.jsonl")
    assert len(prompts) == 1 and prompts[0].state == PromptState.READY
