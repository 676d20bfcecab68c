"""Uncertainty order: rank slots of prompts whose candidates the reward model scores closest together come first."""
from labeling import workflow
from labeling.models import Candidate, RankOrder, Task, TaskKind
from tests.conftest import add_ready_prompt


def score(prompt, rewards):
    for candidate, reward in zip(prompt.candidates.order_by("index"), rewards):
        Candidate.objects.filter(pk=candidate.pk).update(reward=reward)


def test_the_smallest_reward_margin_is_ranked_first_and_unscored_prompts_before_all(project, labeler):
    project.rank_order = RankOrder.UNCERTAINTY
    project.save()
    clear, close, unscored = (add_ready_prompt(project, text) for text in ("clear", "close", "unscored"))
    score(clear, [3.0, 0.0, -3.0, 1.5])     # smallest gap 1.5
    score(close, [2.0, 1.9, -1.0, 0.5])     # smallest gap 0.1
    score(unscored, [1.0, None, 0.0, 2.0])  # one candidate not scored yet
    assert workflow.set_rank_priorities(project) == 3
    priorities = dict(Task.objects.filter(kind=TaskKind.RANK).values_list("prompt_id", "priority"))
    assert priorities[clear.pk] == 1.5 and abs(priorities[close.pk] - 0.1) < 1e-9 and priorities[unscored.pk] == 0
    order = []
    while (task := workflow.lease_next(labeler, project, TaskKind.RANK)) is not None:
        order.append(task.prompt_id)
        workflow.skip_task(task.pk, labeler, reason="other")
    assert order == [unscored.pk, close.pk, clear.pk]


def test_a_skipped_slot_keeps_its_place_and_arrival_order_resets_it(project, labeler):
    project.rank_order = RankOrder.UNCERTAINTY
    project.save()
    first, second = add_ready_prompt(project, "first"), add_ready_prompt(project, "second")
    score(first, [1.0, 0.0, -1.0, 2.0])
    score(second, [1.0, 0.99, -1.0, 2.0])
    workflow.set_rank_priorities(project)
    task = workflow.lease_next(labeler, project, TaskKind.RANK)
    assert task.prompt == second
    workflow.skip_task(task.pk, labeler, reason="other")
    replacement = Task.objects.get(prompt=second, state="open")
    assert abs(replacement.priority - 0.01) < 1e-9
    project.rank_order = RankOrder.ARRIVAL
    project.save()
    workflow.set_rank_priorities(project)
    assert set(Task.objects.filter(state="open").values_list("priority", flat=True)) == {0.0}
