"""Candidate generation for prompts that wait for them: claim a batch, sample K responses per prompt on
the GPU, store each prompt's set exactly once.

Exactly once rests on three layers. A claim (Prompt.generation_claim, taken in one short transaction
with SKIP LOCKED) keeps two workers from sampling the same prompt; it names the Celery task id, so the same task redelivered after
its worker died takes its batch straight back, and it lapses after the generation time limit, so a batch
whose worker vanished is sampled again. Storing re-reads the prompt under a row lock and skips one that
already has candidates. And the (prompt, index) unique constraint rejects a second set outright.
"""
import logging
import random
from dataclasses import replace
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone

from labeling import workflow
from labeling.generator_settings import generator_mix
from labeling.models import Candidate, Project, Prompt, PromptState
from worker.generation import BackendRequestError, GenerationOutOfMemory, PromptTooLong, get_backend

log = logging.getLogger(__name__)


class GenerationFailed(Exception):
    """Generation for these prompts failed; `transient` says whether trying again later may help."""

    def __init__(self, prompt_ids, reason, transient):
        # All three in args, so the exception pickles (Celery sends it between processes).
        super().__init__(list(prompt_ids), reason, transient)
        self.prompt_ids, self.reason, self.transient = list(prompt_ids), reason, transient

    def __str__(self):
        return self.reason


def waiting_prompts():
    """Prompts that need candidates and have not failed: the pool batches are taken from."""
    has_candidates = Exists(Candidate.objects.filter(prompt=OuterRef("pk")))
    return Prompt.objects.filter(state=PromptState.AWAITING_CANDIDATES, generation_error="").filter(~has_candidates)


def unclaimed(now, owner=""):
    free = Q(generation_claim="") | Q(generation_claimed_until__lte=now)
    return free | Q(generation_claim=owner) if owner else free


def claim_batch(project_id, wanted_ids, owner, size):
    """Claim up to `size` waiting prompts of one project for task `owner`, those in `wanted_ids` first.

    Returns the claimed ids. SKIP LOCKED lets two workers claim at once without waiting on each other;
    a row another worker claimed meanwhile is re-checked by PostgreSQL and drops out of the WHERE."""
    now = timezone.now()
    wanted_first = Case(When(pk__in=wanted_ids, then=Value(0)), default=Value(1), output_field=IntegerField())
    with transaction.atomic():
        ids = list(
            waiting_prompts().filter(unclaimed(now, owner), project_id=project_id)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by(wanted_first, "pk").values_list("pk", flat=True)[:size]
        )
        Prompt.objects.filter(pk__in=ids).update(
            generation_claim=owner, generation_claimed_until=now + claim_duration())
    return ids


def claim_duration():
    # A claim outlives the task that holds it by a margin: past the hard time limit its worker is gone.
    return timedelta(seconds=settings.RANKWISE_GENERATION_TIME_LIMIT + 60)


def release(prompt_ids, owner):
    Prompt.objects.filter(pk__in=prompt_ids, generation_claim=owner).update(
        generation_claim="", generation_claimed_until=None)


def project_generators(project):
    """The project's generators (labeling.generator_settings.generator_mix), each with a seed drawn now where its
    settings set none, so that it can be recorded."""
    return [generator if generator.sampling.seed is not None
            else replace(generator, sampling=replace(generator.sampling, seed=random.randrange(2**31)))
            for generator in generator_mix(project.generation, project.k)]


def sample(loaded, prompts):
    """Each prompt's K candidates as (text, generator, backend), every generator writing its share in turn
    (`loaded`: (generator, backend) pairs)."""
    written = [[] for _ in prompts]
    for generator, backend in loaded:
        for mine, texts in zip(written, backend.generate(prompts, generator.candidates, generator.sampling),
                               strict=True):
            mine.extend((text, generator, backend) for text in texts)
    return written


def generate_for_prompts(prompt_ids, owner):
    """Generate candidates for `prompt_ids` (and other waiting prompts of their projects, up to the batch
    size). Safe to run twice: prompts that are done, gone or claimed by a live task are left alone.

    Returns {"stored": n, "skipped": n, "failed": n}. Raises GenerationFailed when a whole batch failed."""
    totals = {"stored": 0, "skipped": 0, "failed": 0}
    project_ids = set(Prompt.objects.filter(pk__in=prompt_ids).values_list("project_id", flat=True))
    for project in Project.objects.filter(pk__in=project_ids):
        batch = claim_batch(project.pk, prompt_ids, owner, settings.RANKWISE_GENERATION_BATCH_SIZE)
        if not batch:
            continue
        try:
            result = generate_batch(project, batch)
        except SoftTimeLimitExceeded as exc:
            raise GenerationFailed(batch, f"generation took longer than the {settings.RANKWISE_GENERATION_TIME_LIMIT}"
                                   " s limit (RANKWISE_GENERATION_TIME_LIMIT)", transient=False) from exc
        finally:
            # Hand back what is left whatever happened: a retry or another worker takes it again.
            release(batch, owner)
        for key in totals:
            totals[key] += result[key]
    return totals


def generate_batch(project, prompt_ids):
    """Sample and store candidates for claimed prompts, in chunks that fit in memory.

    Out of memory halves the chunk and tries again; a prompt too long for the model fails alone and the
    others go on."""
    try:
        loaded = [(generator, get_backend(generator.sampling)) for generator in project_generators(project)]
    except (GenerationOutOfMemory, MemoryError) as exc:
        raise GenerationFailed(prompt_ids, f"out of memory loading the model: {exc}", transient=True) from exc
    except Exception as exc:
        # Settings that do not parse or a model that cannot load (bad path, corrupt file) fail the same
        # way on every retry: say so now.
        raise GenerationFailed(prompt_ids, f"cannot load the model of project {project.name!r} "
                                           f"(Project.generation): {exc}", transient=False) from exc

    prompts = list(Prompt.objects.filter(pk__in=prompt_ids).order_by("pk"))
    result = {"stored": 0, "skipped": 0, "failed": 0}
    chunk_size = len(prompts)
    while prompts:
        chunk = prompts[:chunk_size]
        try:
            outputs = sample(loaded, [p.messages for p in chunk])
        except (GenerationOutOfMemory, MemoryError) as exc:
            if chunk_size == 1:
                raise GenerationFailed([p.pk for p in prompts], f"out of memory even for one prompt: {exc}",
                                       transient=True) from exc
            chunk_size = max(1, chunk_size // 2)
            log.warning("out of memory on %d prompts; trying %d at a time", len(chunk), chunk_size)
            continue
        except PromptTooLong as exc:
            too_long = chunk[exc.prompt_index]
            # The message starts "prompt <index in this chunk> is too long: ..."; the index means nothing here.
            record_failure([too_long.pk], f"the prompt is too long: {str(exc).partition(': ')[2] or exc}")
            result["failed"] += 1
            prompts.remove(too_long)
            continue
        except BackendRequestError as exc:
            # A generation server that is down or overloaded may recover; one that rejects the request won't.
            transient = exc.status is None or exc.status == 429 or exc.status >= 500
            raise GenerationFailed([p.pk for p in prompts], f"the generation server failed: {exc}",
                                   transient=transient) from exc
        for prompt, written in zip(chunk, outputs, strict=True):
            try:
                result["stored" if store(prompt.pk, written) else "skipped"] += 1
            except ValidationError as exc:
                # An empty (or whitespace-only) sample is no candidate to rank: this prompt fails alone,
                # with the reason shown, and the admin's retry samples it again.
                record_failure([prompt.pk], f"the model wrote a candidate the labeling rules refuse: "
                                            f"{'; '.join(exc.messages)}")
                result["failed"] += 1
        prompts = prompts[len(chunk):]
    return result


def store(prompt_id, written):
    """Store one prompt's candidates, `written` as (text, generator, backend) from `sample`, unless it got a
    set meanwhile; True if this call stored them."""
    # A model can emit a NUL byte, which PostgreSQL text cannot hold; it carries nothing a labeler could read.
    texts = [text.replace("\x00", "") for text, _, _ in written]
    origins = [{"generator": generator.name, "model_name": backend.model_name, "model_revision": backend.revision,
                "sampling": generator.sampling.to_dict(), "seed": generator.sampling.seed}
               for _, generator, backend in written]
    with transaction.atomic():
        prompt = Prompt.objects.select_for_update().select_related("project").filter(pk=prompt_id).first()
        if prompt is None or prompt.state != PromptState.AWAITING_CANDIDATES or prompt.candidates.exists():
            return False
        try:
            with transaction.atomic():
                workflow.add_candidates(prompt, texts, origins=origins)
        except IntegrityError:
            # A racing worker stored this prompt's set first: the work is done, by someone else.
            return False
    return True


def record_failure(prompt_ids, reason):
    """Show why generation gave up on each prompt (admin list, prompt page); batches skip it from now on."""
    with transaction.atomic():
        for prompt in Prompt.objects.select_for_update().filter(pk__in=prompt_ids,
                                                                state=PromptState.AWAITING_CANDIDATES):
            prompt.record_generation_failure(reason)


def requeue_waiting(enqueue):
    """Queue generation for waiting prompts that nobody holds: their message was lost, or the worker that
    claimed them died. Calls `enqueue(prompt_ids)` once per batch of one project; returns the prompt count."""
    by_project = {}
    for prompt_id, project_id in waiting_prompts().filter(unclaimed(timezone.now())).order_by("pk").values_list(
            "pk", "project_id"):
        by_project.setdefault(project_id, []).append(prompt_id)
    size = settings.RANKWISE_GENERATION_BATCH_SIZE
    for ids in by_project.values():
        for start in range(0, len(ids), size):
            enqueue(ids[start:start + size])
    return sum(len(ids) for ids in by_project.values())
