"""Every state machine: each allowed move happens through a conditional UPDATE, each other move is refused,
and a move from a state the row has already left reports that it did not happen."""
import itertools

import pytest

from exports.models import EXPORT_STATES, IMPORT_STATES, ExportJob, ExportStatus, ImportJob
from intake.models import FILING_STATES, ApiUser, Filing, Outcome
from labeling.models import (
    PROMPT_STATES, REVIEW_STATES, TASK_STATES, Prompt, PromptState, Ranking, ReviewStatus, Task, TaskKind, TaskState,
)
from labeling.transitions import InvalidTransition
from rewards.models import RUN_STATES, RunStatus, TrainingRun

P, T, R, E, V, F = PromptState, TaskState, RunStatus, ExportStatus, ReviewStatus, Outcome

# The tables written out edge by edge: a change to a machine must change this list too.
EXPECTED = {
    "prompt": (PROMPT_STATES, {
        (P.NEW, P.AWAITING_DEMONSTRATION), (P.NEW, P.AWAITING_CANDIDATES), (P.NEW, P.READY), (P.NEW, P.REPORTED),
        (P.AWAITING_DEMONSTRATION, P.AWAITING_CANDIDATES), (P.AWAITING_DEMONSTRATION, P.REPORTED),
        (P.AWAITING_CANDIDATES, P.READY), (P.AWAITING_CANDIDATES, P.REPORTED),
        (P.READY, P.DONE), (P.READY, P.REPORTED), (P.DONE, P.READY),
    }),
    "ranking review": (REVIEW_STATES, {
        (V.UNREVIEWED, V.PENDING), (V.PENDING, V.ACCEPTED), (V.PENDING, V.REJECTED),
    }),
    "task": (TASK_STATES, {
        (T.OPEN, T.LEASED), (T.OPEN, T.WITHDRAWN),
        (T.LEASED, T.LEASED), (T.LEASED, T.OPEN), (T.LEASED, T.SUBMITTED), (T.LEASED, T.SKIPPED),
        (T.LEASED, T.WITHDRAWN),
    }),
    "training run": (RUN_STATES, {
        (R.QUEUED, R.RUNNING), (R.QUEUED, R.FAILED), (R.RUNNING, R.SUCCEEDED), (R.RUNNING, R.FAILED),
    }),
    "export job": (EXPORT_STATES, {
        (E.QUEUED, E.RUNNING), (E.QUEUED, E.FAILED), (E.RUNNING, E.SUCCEEDED), (E.RUNNING, E.FAILED),
    }),
    "import job": (IMPORT_STATES, {
        (E.QUEUED, E.RUNNING), (E.QUEUED, E.FAILED), (E.RUNNING, E.SUCCEEDED), (E.RUNNING, E.FAILED),
    }),
    "intake filing": (FILING_STATES, {
        (F.QUEUED, F.STORED), (F.QUEUED, F.DUPLICATE), (F.QUEUED, F.CAP_REACHED), (F.QUEUED, F.INVALID),
        (F.QUEUED, F.NO_CONSENT), (F.QUEUED, F.FAILED),
    }),
}


def make_row(machine_name, state, project, labeler):
    if machine_name == "prompt":
        return Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Hi"}], state=state)
    if machine_name == "task":
        prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Hi"}])
        return Task.objects.create(project=project, prompt=prompt, kind=TaskKind.RANK, state=state,
                                   labeler=labeler if state != T.OPEN else None)
    if machine_name == "ranking review":
        prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Hi"}])
        return Ranking.objects.create(prompt=prompt, labeler=labeler, display_order=[], review_status=state)
    if machine_name == "training run":
        return TrainingRun.objects.create(project=project, status=state)
    if machine_name == "import job":
        return ImportJob.objects.create(project=project, filename="ranked.jsonl", status=state)
    if machine_name == "intake filing":
        api_user, _ = ApiUser.objects.create_with_token(name=f"caller {state}", project=project, consent=True)
        return Filing.objects.create(api_user=api_user, project=project, status=state)
    return ExportJob.objects.create(project=project, dataset="ppo", format="jsonl", status=state,
                                    options={"project_id": project.pk, "dataset": "ppo"})


def all_moves(machine):
    return list(itertools.product(machine.table, repeat=2))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_table_is_the_one_written_down(name):
    machine, edges = EXPECTED[name]
    assert {(old, new) for old, new in all_moves(machine) if machine.allows(old, new)} == edges


@pytest.mark.parametrize("name,old,new", [
    (name, old, new) for name, (machine, _) in EXPECTED.items() for old, new in all_moves(machine)])
def test_every_move_is_made_or_refused_as_the_table_says(name, old, new, project, labeler):
    machine, edges = EXPECTED[name]
    row = make_row(name, old, project, labeler)
    if (old, new) in edges:
        assert machine.move(row, new) is True
        assert getattr(type(row).objects.get(pk=row.pk), machine.field) == new == getattr(row, machine.field)
    else:
        with pytest.raises(InvalidTransition):
            machine.move(row, new)
        assert getattr(type(row).objects.get(pk=row.pk), machine.field) == old


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_row_that_moved_meanwhile_is_not_moved_again(name, project, labeler):
    machine, edges = EXPECTED[name]
    old, new = next((old, new) for old, new in sorted(edges) if old != new)
    row = make_row(name, old, project, labeler)
    seen_by_another_process = type(row).objects.get(pk=row.pk)
    assert machine.move(row, new) is True
    # The second process still believes the row is in `old`; its conditional UPDATE changes nothing.
    assert machine.move(seen_by_another_process, new) is False
    assert getattr(seen_by_another_process, machine.field) == old
