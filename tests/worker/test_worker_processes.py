"""Real Celery worker processes on the real Redis, sharing the PostgreSQL test database with the test."""
import os
import re
import signal

import pytest

from labeling.models import Candidate, Prompt, PromptState
from tests.worker.conftest import (celery_worker, kill_worker, producer_for, tiny_generation, wait_for,
                                   worker_env)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

# Short limits so that Redis hands an abandoned message to another worker within seconds; the
# visibility timeout still exceeds every time limit, as settings require.
TIME_LIMIT = 40
VISIBILITY_TIMEOUT = 45


def candidate_count(prompt):
    return Candidate.objects.filter(prompt=prompt).count()


def test_a_worker_killed_mid_task_leaves_the_batch_to_a_second_worker_exactly_once(
        transactional_db, postgres, redis_url, broker_prefix, project, tiny_model_dir, tmp_path):
    # Enough tokens that the first worker is still sampling when it is killed.
    project.generation = tiny_generation(tiny_model_dir, max_new_tokens=200, ignore_eos=True)
    project.save()
    prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Say hello"}],
                                   state=PromptState.AWAITING_CANDIDATES)
    env = worker_env(redis_url, RANKWISE_BROKER_KEY_PREFIX=broker_prefix, RANKWISE_TASK_TIME_LIMIT=TIME_LIMIT,
                     RANKWISE_GENERATION_TIME_LIMIT=TIME_LIMIT, RANKWISE_BROKER_VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT)
    producer_for(redis_url, broker_prefix).send_task("worker.generate_candidates", args=[[prompt.pk]])

    with celery_worker(env, tmp_path / "first.log", "first") as first:
        claim = wait_for(lambda: Prompt.objects.filter(pk=prompt.pk).exclude(generation_claim="").values_list(
            "generation_claim", flat=True).first(), 90, "the first worker to claim the prompt")
        kill_worker(first)  # SIGKILL to the whole worker, as when its machine dies
    assert candidate_count(prompt) == 0, "the first worker finished before it was killed; raise max_new_tokens"

    with celery_worker(env, tmp_path / "second.log", "second"):
        wait_for(lambda: Prompt.objects.get(pk=prompt.pk).state == PromptState.READY, VISIBILITY_TIMEOUT + 90,
                 "the second worker to store the candidates")
        wait_for(lambda: "succeeded" in (tmp_path / "second.log").read_text(), 30, "the task to be acknowledged")
    log = (tmp_path / "second.log").read_text()
    assert claim in log  # the second worker ran the very message the first one lost
    assert candidate_count(prompt) == project.k
    assert sorted(Candidate.objects.filter(prompt=prompt).values_list("index", flat=True)) == list(range(project.k))


def test_a_pool_process_killed_mid_task_puts_its_message_back_at_once(
        transactional_db, postgres, redis_url, broker_prefix, project, tiny_model_dir, tmp_path):
    # The OOM killer or a GPU fault takes the process running the task, not the worker: with
    # task_reject_on_worker_lost the worker requeues the message itself, without waiting for Redis.
    project.generation = tiny_generation(tiny_model_dir, max_new_tokens=200, ignore_eos=True)
    project.save()
    prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Say hello"}],
                                   state=PromptState.AWAITING_CANDIDATES)
    env = worker_env(redis_url, RANKWISE_BROKER_KEY_PREFIX=broker_prefix)  # the default, hour-long visibility
    producer_for(redis_url, broker_prefix).send_task("worker.generate_candidates", args=[[prompt.pk]])

    with celery_worker(env, tmp_path / "worker.log", "worker") as worker:
        wait_for(lambda: Prompt.objects.filter(pk=prompt.pk).exclude(generation_claim="").exists(), 90,
                 "the worker to claim the prompt")
        (child,) = pool_processes(worker.pid)
        os.kill(child, signal.SIGKILL)
        assert candidate_count(prompt) == 0
        wait_for(lambda: Prompt.objects.get(pk=prompt.pk).state == PromptState.READY, 120,
                 "the requeued task to store the candidates")
        wait_for(lambda: "succeeded" in (tmp_path / "worker.log").read_text(), 30, "the task to be acknowledged")
    log = (tmp_path / "worker.log").read_text()
    assert "WorkerLostError" in log
    assert candidate_count(prompt) == project.k
    assert Prompt.objects.get(pk=prompt.pk).generation_error == ""  # a lost process is not a failed generation


def pool_processes(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]


def test_several_workers_share_the_queue_without_sampling_a_prompt_twice(
        transactional_db, postgres, redis_url, broker_prefix, project, tiny_model_dir, tmp_path):
    project.generation = tiny_generation(tiny_model_dir)
    project.save()
    prompts = [Prompt.objects.create(project=project, messages=[{"role": "user", "content": f"Prompt {i}"}],
                                     state=PromptState.AWAITING_CANDIDATES) for i in range(6)]
    env = worker_env(redis_url, RANKWISE_BROKER_KEY_PREFIX=broker_prefix, RANKWISE_GENERATION_BATCH_SIZE=2)
    producer = producer_for(redis_url, broker_prefix)
    for prompt in prompts:  # one message per prompt, as six labelers writing at once would queue
        producer.send_task("worker.generate_candidates", args=[[prompt.pk]])

    with celery_worker(env, tmp_path / "a.log", "a"), celery_worker(env, tmp_path / "b.log", "b"):
        wait_for(lambda: Prompt.objects.filter(pk__in=[p.pk for p in prompts], state=PromptState.READY).count() == 6,
                 180, "all prompts to get candidates")
        wait_for(lambda: sum(p.read_text().count("succeeded") for p in tmp_path.glob("*.log")) == 6, 60,
                 "all six messages to be processed")
    assert Candidate.objects.filter(prompt__in=prompts).count() == 6 * project.k
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    results = [{key: int(n) for key, n in re.findall(r"'(\w+)': (\d+)", found)}
               for found in re.findall(r"succeeded in [\d.]+s: (\{.*?\})", logs)]
    assert len(results) == 6
    # Every prompt was sampled by exactly one batch: no worker sampled a set only to find it stored.
    assert sum(r["stored"] for r in results) == 6 and sum(r["skipped"] for r in results) == 0
    assert both_workers_ran(tmp_path)


def both_workers_ran(folder):
    return all("succeeded" in (folder / f"{name}.log").read_text() for name in ("a", "b"))
