"""What each dataset contains: pairwise rows derived in SQL match rankdata's comparisons, grouped rows are
lossless, filters and splits select the right rows."""
import json

import pytest

from exports.runner import run_export
from exports.spec import ExportSpec
from labeling.models import Candidate, Prompt, PromptState, Ranking
from rankdata.comparisons import comparisons
from rankdata.text import prompt_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


def export_rows(tmp_path, project, dataset, **options):
    spec = ExportSpec.from_dict({"project_id": project.pk, "dataset": dataset, **options})
    path, count = run_export(spec, tmp_path / dataset)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == count
    return rows


def test_it_derives_every_comparison_of_every_ranking(tmp_path, ranked_project):
    rows = export_rows(tmp_path, ranked_project, "pairwise", margin=True)
    texts = dict(Candidate.objects.values_list("id", "text"))
    expected = []
    for ranking in Ranking.objects.order_by("id"):
        ratings = list(ranking.ratings.order_by("candidate__index"))
        expected += [(prompt_text(ranking.prompt.messages), texts[ratings[w].candidate_id], texts[ratings[l].candidate_id])
                     for w, l in comparisons([r.tier for r in ratings])]
    assert sorted((r["prompt"], r["chosen"], r["rejected"]) for r in rows) == sorted(expected)
    # 4 distinct tiers give 6 comparisons; tiers 2,1,1,3 give 5 (the tie gives none).
    assert len(rows) == 6 + 6 + 5 + 5
    first = rows[0]
    assert first == {"prompt": "Explain gravity\n\n", "chosen": "Explain gravity / answer 0",
                     "rejected": "Explain gravity / answer 1", "margin": 1.0}


def test_it_writes_one_lossless_row_per_ranking(tmp_path, ranked_project, labeler):
    rows = export_rows(tmp_path, ranked_project, "grouped")
    assert len(rows) == Ranking.objects.count() == 4
    ranking = Ranking.objects.order_by("id").first()
    row = rows[0]
    shown = [Candidate.objects.get(pk=i) for i in ranking.display_order]
    assert row["candidates"] == [c.text for c in shown]
    assert row["candidate_indexes"] == [c.index for c in shown]
    assert row["tiers"] == [ranking.ratings.get(candidate=c).tier for c in shown]
    assert row["likert"] == [ranking.ratings.get(candidate=c).likert for c in shown]
    assert row["messages"] == [{"role": "user", "content": "Explain gravity"}]
    assert row["time_spent_ms"] == 1000
    assert row["labeler"].startswith("labeler-") and labeler.username not in json.dumps(rows)
    assert rows[2]["flags"][rows[2]["candidate_indexes"].index(1)] == ["hallucination"]
    # The same labeler gets the same pseudonym in every row; the other labeler another one.
    assert rows[0]["labeler"] == rows[2]["labeler"] != rows[1]["labeler"]


def test_it_writes_real_names_only_when_asked(tmp_path, ranked_project, labeler):
    rows = export_rows(tmp_path, ranked_project, "grouped", pseudonymize=False)
    assert rows[0]["labeler"] == labeler.username


def test_it_exports_demonstrations_and_prompts_without_one(tmp_path, ranked_project):
    assert export_rows(tmp_path, ranked_project, "sft") == [{"prompt": "Say thanks\n\n", "completion": "Thank you!"}]
    assert export_rows(tmp_path, ranked_project, "sft_chat") == [{"messages": [
        {"role": "user", "content": "Say thanks"}, {"role": "assistant", "content": "Thank you!"}]}]
    ppo = export_rows(tmp_path, ranked_project, "ppo")
    assert [r["prompt"] for r in ppo] == ["Explain gravity\n\n", "Write a haiku\n\n"]


def test_it_exports_every_record_for_audits(tmp_path, ranked_project, labeler):
    rows = export_rows(tmp_path, ranked_project, "raw")
    types = [r["type"] for r in rows]
    assert types.count("prompt") == 3 and types.count("ranking") == 4 and types.count("candidate_rating") == 16
    ranking = next(json.loads(r["record"]) for r in rows if r["type"] == "ranking")
    assert "labeler_id" not in ranking and ranking["labeler"].startswith("labeler-")


def test_it_filters(tmp_path, ranked_project, labeler):
    only_first = export_rows(tmp_path, ranked_project, "grouped", filters={"labelers": [labeler.username]})
    assert len(only_first) == 2
    unflagged = export_rows(tmp_path, ranked_project, "grouped", filters={"exclude_flagged": True})
    assert [r["prompt"] for r in unflagged] == ["Explain gravity\n\n", "Explain gravity\n\n", "Write a haiku\n\n"]
    # "Explain gravity": the labelers disagree on 1 of 6 pairs (5/6); "Write a haiku": they agree fully.
    agreeing = export_rows(tmp_path, ranked_project, "grouped", filters={"min_agreement": 0.9})
    assert {r["prompt"] for r in agreeing} == {"Write a haiku\n\n"}
    assert len(export_rows(tmp_path, ranked_project, "grouped", filters={"min_agreement": 0.8})) == 4
    Prompt.objects.filter(messages__0__content="Write a haiku").update(state=PromptState.REPORTED)
    assert {r["prompt"] for r in export_rows(tmp_path, ranked_project, "pairwise",
                                             filters={"exclude_reported": True})} == {"Explain gravity\n\n"}
    future = export_rows(tmp_path, ranked_project, "pairwise", filters={"since": "2999-01-01T00:00:00Z"})
    assert future == []
    assert export_rows(tmp_path, ranked_project, "ppo", filters={"kinds": ["few_shot"]}) == []


def test_the_stated_preference_strength_is_the_top_pairs_margin(tmp_path, project, labeler, other_labeler):
    """Llama 2's margins for the pair the labeler rated (tier 1 over tier 2), 0 for every other pair; the
    grouped export keeps the strength itself."""
    from tests.conftest import add_ready_prompt
    from tests.exports.conftest import rank

    project.overlap = 2
    project.save()
    prompt = add_ready_prompt(project, "Explain tides")
    rank(prompt, labeler, [1, 2, 3, 4], strength="slightly_better")
    rank(prompt, other_labeler, [2, 1, 3, 3])
    rows = export_rows(tmp_path, project, "pairwise", margin="strength")
    margins = [((r["chosen"][-1], r["rejected"][-1]), r["margin"]) for r in rows]
    assert [m for pair, m in margins if pair == ("0", "1")] == [pytest.approx(1 / 3)]
    assert [m for pair, m in margins if pair != ("0", "1")] == [0.0] * (len(rows) - 1)
    assert len(rows) == 6 + 5
    grouped = export_rows(tmp_path, project, "grouped")
    assert [row["strength"] for row in grouped] == ["slightly_better", None]
