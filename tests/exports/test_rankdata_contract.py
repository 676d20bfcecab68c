"""The export, the importer, the platform's training data and the SQL shortcuts all hold rankdata's
definitions: the comparisons and agreement the SQL computes are rankdata's; an export imported and exported
again gives the same bytes (review outcomes and agreement included); the reward-model trainer reads the K-wise export and sees exactly the groups
the platform trains on."""
import random

import pytest

from exports.importing import import_file
from exports.runner import run_export
from exports.spec import ExportSpec
from labeling import workflow
from labeling.models import Candidate, Project, Prompt, Ranking
from labeling.roles import LABELER_GROUP, REVIEWER_GROUP, sync_roles
from rankdata.agreement import prompt_agreement
from rankdata.comparisons import comparisons
from rankdata.text import scored_text
from rewards.data import comparison_counts, ranking_groups
from rewards.training import load_jsonl
from tests.conftest import add_ready_prompt, make_user
from tests.exports.conftest import rank

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]

PROMPTS = [
    [{"role": "user", "content": "Explain gravity"}],
    [{"role": "user", "content": "Complete this:"}],  # already ends where a response starts
    [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"},
     {"role": "assistant", "content": "hello"}, {"role": "user", "content": "A haiku?"}],
    [{"role": "user", "content": "Ends with a blank line\n\n"}],
]


@pytest.fixture
def team_project(db):
    """K=3, every prompt ranked by three labelers with random tiers (ties included), seeded."""
    project = Project.objects.create(name="Team", k=3, overlap=3)
    labelers = [make_user(f"ranker{i}", LABELER_GROUP) for i in range(3)]
    rng = random.Random(7)
    for messages in PROMPTS:
        prompt = add_ready_prompt(project, messages[-1]["content"])
        Prompt.objects.filter(pk=prompt.pk).update(messages=messages)
        prompt.refresh_from_db()
        rank(prompt, labelers[0], rng.sample([1, 2, 3], 3))  # a strict order, as a strength needs
        for labeler in labelers[1:]:
            rank(prompt, labeler, [rng.randint(1, 3) for _ in range(3)])
    return project


def export(project, folder, dataset, **options):
    return run_export(ExportSpec.from_dict({"project_id": project.pk, "dataset": dataset, **options}), folder)[0]


def tiers_by_prompt(project):
    """{prompt id: [{candidate id: tier} per ranking]} read straight from the tables."""
    by_prompt = {}
    for ranking in Ranking.objects.filter(prompt__project=project).prefetch_related("ratings"):
        by_prompt.setdefault(ranking.prompt_id, []).append({r.candidate_id: r.tier for r in ranking.ratings.all()})
    return by_prompt


def test_the_sql_comparisons_and_agreement_filter_are_rankdatas(tmp_path, team_project):
    by_prompt = tiers_by_prompt(team_project)
    expected = sum(len(comparisons(list(r.values()))) for rankings in by_prompt.values() for r in rankings)
    assert comparison_counts(team_project)["comparisons"] == expected
    rows = export(team_project, tmp_path / "pairs", "pairwise").read_text().splitlines()
    assert len(rows) == expected

    agreement = {prompt_id: prompt_agreement(rankings) for prompt_id, rankings in by_prompt.items()}
    assert len(set(agreement.values())) > 2  # the seed gives prompts of different agreement
    for threshold in sorted(set(agreement.values())) + [0.0, 1.0]:
        ids = {int(line.split('"id":"')[1].split('"')[0])
               for line in export(team_project, tmp_path / f"at-{threshold}", "grouped",
                                  filters={"min_agreement": threshold}).read_text().splitlines()}
        assert ids == {p for p, a in agreement.items() if a >= threshold}, threshold


def test_the_pairwise_export_round_trips_to_the_same_bytes(tmp_path, team_project):
    exported = export(team_project, tmp_path / "a", "pairwise", margin=True)
    copy = Project.objects.create(name="Pairs", k=2)
    import_file(copy, exported)
    again = export(copy, tmp_path / "b", "pairwise", margin=True)
    assert again.read_bytes() == exported.read_bytes()
    assert b'"prompt":"Explain gravity\\n\\n"' in exported.read_bytes()
    assert b'"prompt":"Complete this:"' in exported.read_bytes()


def test_the_grouped_export_round_trips_to_the_same_bytes(tmp_path, team_project):
    Candidate.objects.filter(prompt__project=team_project, index=1).update(generator="policy-b")
    strict = next(r for r in Ranking.objects.filter(prompt__project=team_project)
                  if sorted(r.ratings.values_list("tier", flat=True)) == [1, 2, 3])
    Ranking.objects.filter(pk=strict.pk).update(strength="significantly_better")
    # Review outcomes travel too: the fixture's random rankers are flagged, so their rankings wait for review;
    # a reviewer accepts one.
    sync_roles()
    reviewer = make_user("reviewer", REVIEWER_GROUP)
    workflow.review_ranking(Ranking.objects.filter(prompt__project=team_project, review_status="pending")
                            .order_by("id")[0].pk, reviewer, accept=True)
    exported = export(team_project, tmp_path / "a", "grouped")
    for needle in (b'"policy-b"', b'"significantly_better"', b'"review_status":"accepted"',
                   b'"review_status":"pending"'):
        assert needle in exported.read_bytes()
    copy = Project.objects.create(name="Groups", k=3, overlap=3)
    import_file(copy, exported)
    again = export(copy, tmp_path / "b", "grouped")
    assert again.read_bytes() == exported.read_bytes()
    # The rankings waiting for review wait in the new project's queue.
    waiting = sorted(str(r.prompt_id) for r in Ranking.objects.review_queue(team_project, reviewer))
    assert sorted(r.prompt.external_id for r in Ranking.objects.review_queue(copy, reviewer)) == waiting


def test_the_trainer_reads_the_kwise_export_as_the_platform_builds_its_groups(tmp_path, team_project):
    from_export = load_jsonl(export(team_project, tmp_path / "k", "grouped"))
    from_platform = list(ranking_groups(team_project))
    assert len(from_export) == len(from_platform) == 3 * len(PROMPTS)

    def seen(group):
        """What the reward model is trained on: per comparison, the two texts it scores, and the agreement."""
        pairs = sorted((scored_text(group.prompt, group.responses[w]), scored_text(group.prompt, group.responses[l]))
                       for w, l in group.pairs())
        return group.prompt_id, tuple(pairs), group.labelers_agreed

    assert sorted(map(seen, from_export), key=repr) == sorted(map(seen, from_platform), key=repr)
    assert all(g.labelers_agreed is not None for g in from_export)  # computed from the other rankings
    assert any(g.pairs() for g in from_export)
