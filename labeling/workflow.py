"""The labeling workflow: every state change with side effects, in one place.

Views, the API, imports, admin actions and Celery tasks call these functions; nothing else writes a
prompt's or a task's state. Each state change goes through its machine's `move()` (labeling.transitions),
a conditional UPDATE that reports whether it happened; the functions here act on a refused move.

Submits are atomic and idempotent: a retried or double-clicked submit returns what the first one stored.
Validation errors name the field and store nothing.
"""
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.db.models.functions import Length
from django.utils import timezone

from labeling.draws import draws, shuffled
from labeling.jobs import enqueue_on_commit
from labeling.models import (
    OPEN_PROMPT_STATES, PROMPT_STATES, QUALIFIED, REPORT_REASONS, REVIEW_STATES, TASK_STATES,
    UNFINISHED_TASK_STATES, Candidate, CandidateRating, Demonstration, GoldRanking, GoldSource, LabelerQuality,
    Project, Prompt, PromptAgreement, PromptKind, PromptSource, PromptState, Qualification, RankOrder, Ranking,
    ReviewCause, ReviewStatus, SkipReason, Task, TaskKind, TaskState, lease_duration,
)
from labeling.limits import MAX_INT32
from labeling.models.quality import WINDOW_SUMS, add_to_counters, shift_counters
from labeling.models.rows import from_joined_row, select_list
from labeling.validation import (
    validate_candidates, validate_messages, validate_ratings, validate_reference, validate_strength,
    validate_text,
)
from rankdata.agreement import agreeing_pairs, kendall_tau
from rankdata.comparisons import dense_tiers

GENERATE_CANDIDATES = "worker.generate_candidates"


class LeaseError(Exception):
    """A submit or skip on a lease that is not (or no longer) the caller's."""


class TaskNotFound(LeaseError):
    """No such task among the caller's: another labeler's task is answered as if it did not exist."""


# --- Prompts ---------------------------------------------------------------------------------

def move_prompt(prompt, new_state):
    """The one place a prompt changes state, with what arriving in the new state sets off.

    Returns False when another process moved the prompt first (nothing is set off then)."""
    old_state = prompt.state
    if not PROMPT_STATES.move(prompt, new_state, updated_at=timezone.now()):
        return False
    if new_state == PromptState.AWAITING_DEMONSTRATION:
        Task.objects.open_slots(prompt, TaskKind.WRITE_DEMONSTRATION, 1)
    elif new_state == PromptState.AWAITING_CANDIDATES:
        enqueue_on_commit(GENERATE_CANDIDATES, [prompt.pk])
    elif new_state == PromptState.READY:
        # A done prompt reopens for the one slot a rejected ranking gave back; a new one opens all of its.
        Task.objects.open_slots(prompt, TaskKind.RANK, 1 if old_state == PromptState.DONE else prompt.project.overlap)
    elif new_state == PromptState.REPORTED:
        # Nobody gets a reported prompt again; unsubmitted slots close.
        TASK_STATES.move_all(Task.objects.filter(prompt=prompt), UNFINISHED_TASK_STATES, TaskState.WITHDRAWN)
    return True


def start_prompt(prompt, *, has_candidates=None, has_demonstration=False):
    """Move a freshly created prompt into the pipeline, based on what it already has."""
    if has_candidates is None:
        has_candidates = prompt.candidates.exists()
    if has_candidates:
        return move_prompt(prompt, PromptState.READY)
    if prompt.project.demonstrations_enabled and not has_demonstration:
        return move_prompt(prompt, PromptState.AWAITING_DEMONSTRATION)
    return move_prompt(prompt, PromptState.AWAITING_CANDIDATES)


def set_rank_priorities(project):
    """Order the project's unfinished rank slots as its `rank_order` says; returns how many were set.

    Slots are leased lowest priority first (then oldest), so each order is one UPDATE of Task.priority,
    after each rescoring (rewards.score_candidates) and whenever the admin changes the order; the queue's
    query and its no-repeat rule do not change.

    Uncertainty: a slot's priority is the smallest reward margin between two of its prompt's candidates
    under the current scores (Candidate.reward), so the prompts the reward model can least tell apart are
    ranked first. Disagreement: 1 minus the share of its prompt's candidate pairs that the current and the
    previous version (Candidate.previous_reward) order differently, so the prompts the two versions
    disagree on most come first; within one share, the smaller current margin first (it adds less than
    the gap to the next share). Without any previous scores, disagreement falls back to the margin. Either
    way a prompt whose candidates are not all scored gets 0 and comes first: the reward model knows
    nothing of it yet. Arrival order puts every slot back to 0."""
    unfinished = Task.objects.filter(project=project, kind=TaskKind.RANK, state__in=UNFINISHED_TASK_STATES)
    if project.rank_order == RankOrder.ARRIVAL:
        return unfinished.exclude(priority=0).update(priority=0)
    scored = Candidate.objects.filter(prompt__project=project)
    by_disagreement = (project.rank_order == RankOrder.DISAGREEMENT
                       and scored.filter(previous_reward__isnull=False).exists())
    tasks, candidates, prompts = Task._meta.db_table, Candidate._meta.db_table, Prompt._meta.db_table
    if by_disagreement:
        priority = """CASE WHEN COUNT(*) = COUNT(a.reward + b.reward + a.previous_reward + b.previous_reward) THEN
            1 - COUNT(*) FILTER (WHERE (a.reward - b.reward) * (a.previous_reward - b.previous_reward) < 0)::float
                / COUNT(*)
              + MIN(ABS(a.reward - b.reward)) / (1 + MIN(ABS(a.reward - b.reward))) / (COUNT(*) + 1) END"""
    else:
        priority = "CASE WHEN COUNT(*) = COUNT(a.reward + b.reward) THEN MIN(ABS(a.reward - b.reward)) END"
    # Every pair of a prompt's candidates (K is at most 9: 36 pairs), grouped by prompt.
    sql = f"""
        UPDATE {tasks} task SET priority = COALESCE(per_prompt.priority, 0)
        FROM (
            SELECT a.prompt_id, {priority} AS priority
            FROM {candidates} a
            JOIN {candidates} b ON b.prompt_id = a.prompt_id AND b.id > a.id
            JOIN {prompts} prompt ON prompt.id = a.prompt_id
            WHERE prompt.project_id = %s
            GROUP BY a.prompt_id
        ) per_prompt
        WHERE task.prompt_id = per_prompt.prompt_id AND task.project_id = %s AND task.kind = %s
          AND task.state = ANY(%s)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [project.pk, project.pk, TaskKind.RANK, list(UNFINISHED_TASK_STATES)])
        return cursor.rowcount


def rank_order_saved(project, *, changed):
    """After an admin saved `project`: reorder its rank slots. A switch to the disagreement order also
    queues a rescoring by the current version, which stores the previous version's scores it compares
    (until it ran, the order falls back to the margin)."""
    if changed and project.rank_order == RankOrder.DISAGREEMENT:
        current = project.reward_models.filter(is_current=True).values_list("pk", flat=True).first()
        if current is not None:
            enqueue_on_commit("rewards.score_candidates", current)
    return set_rank_priorities(project)


def add_candidates(prompt, texts, *, origins=None, model_name="", model_revision="", sampling=None, seed=None,
                   source="model"):
    """Store this prompt's full set of K candidates and, if it was waiting for them, make it ready to rank.

    `origins` gives each candidate its own generator, model_name, model_revision, sampling and seed (a
    project with several generators); without it they all share the keyword values.

    Exactly once: the (prompt, index) unique constraint rejects a second set, so a redelivered
    generation task can never add more candidates to a prompt."""
    validate_candidates(texts, prompt.project.k)
    shared = {"model_name": model_name, "model_revision": model_revision, "sampling": sampling or {}, "seed": seed}
    origins = origins or [shared] * len(texts)
    Candidate.objects.bulk_create([
        Candidate(prompt=prompt, index=i, text=text, source=source, **origin)
        for i, (text, origin) in enumerate(zip(texts, origins, strict=True))
    ])
    if prompt.state == PromptState.AWAITING_CANDIDATES:
        move_prompt(prompt, PromptState.READY)


def create_prompt(project, *, messages, candidates=(), model_name="", source=PromptSource.IMPORTED, **fields):
    """A new prompt (validated), its candidates if it comes with them, started in the pipeline."""
    validate_messages(messages)
    prompt = Prompt.objects.create(project=project, messages=messages, source=source, **fields)
    if candidates:
        add_candidates(prompt, list(candidates), model_name=model_name or "imported", source="imported")
    start_prompt(prompt, has_candidates=bool(candidates))
    return prompt


def retry_generation(prompt):
    """After the admin fixed what made generation fail (a model path, say), queue the prompt again."""
    if prompt.state != PromptState.AWAITING_CANDIDATES or prompt.candidates.exists():
        return False
    Prompt.objects.filter(pk=prompt.pk).update(generation_error="", updated_at=timezone.now())
    prompt.generation_error = ""
    enqueue_on_commit(GENERATE_CANDIDATES, [prompt.pk])
    return True


# --- Imports of ranked data -------------------------------------------------------------------

# Prompts created per batch of INSERTs: a few statements per thousand prompts instead of a dozen per prompt.
STORE_BATCH = 1_000


def import_ranked_prompts(project, items, labeler_for):
    """Create prompts with their candidates and rankings as if labelers had ranked them here.

    `items` were checked line by line (exports.importing.parse: exactly K candidates, valid dense tiers,
    Likert and flags) and carry `.prompt` (a labeling.importing.PromptRow), `.source`, `.candidates`
    ({index: Candidate field values}) and `.rankings` (`.labeler` pseudonym, `.order`, `.ratings`,
    `.review_status`, ...);
    `labeler_for(pseudonym)` gives the user a ranking is stored under.

    Imported rankings are history, so each prompt is created in the state they put it in rather than
    moved one state at a time (thousands of prompts would take thousands of round trips): the rankings
    fill the prompt's `overlap` rank slots as submitted tasks, a prompt whose slots are all filled is
    done, and one with slots left is ready, its open slots waiting for labelers here. Those are the
    states move_prompt would reach: NEW -> READY (-> DONE once every slot is submitted). A ranking keeps
    its review status; a rejected one fills no slot and is left out of the agreement, as if a reviewer had
    rejected it here, and a pending one waits in this project's review queue."""
    for start in range(0, len(items), STORE_BATCH):
        batch = items[start:start + STORE_BATCH]
        counted = [_counted(item) for item in batch]
        prompts = Prompt.objects.bulk_create([
            Prompt(project=project, messages=item.prompt.messages, kind=item.prompt.kind,
                   use_case=item.prompt.use_case, external_id=item.prompt.external_id, source=item.source,
                   state=PromptState.DONE if len(counts) >= project.overlap else PromptState.READY)
            for item, counts in zip(batch, counted)])
        candidates = Candidate.objects.bulk_create([
            Candidate(prompt=prompt, **values)
            for prompt, item in zip(prompts, batch) for _, values in sorted(item.candidates.items())])
        by_index = {(c.prompt_id, c.index): c for c in candidates}
        tasks, rankings, imported_rankings = [], [], []
        for prompt, item, counts in zip(prompts, batch, counted):
            for imported in item.rankings:
                labeler = labeler_for(imported.labeler)
                order = [by_index[prompt.pk, i].pk for i in imported.order]
                tasks.append(Task(project=project, prompt=prompt, kind=TaskKind.RANK, labeler=labeler,
                                  state=TaskState.SUBMITTED, display_order=order, time_spent_ms=imported.time_spent_ms,
                                  finished_at=imported.created_at or timezone.now()))
                pending = imported.review_status == ReviewStatus.PENDING
                rankings.append(Ranking(prompt=prompt, labeler=labeler, display_order=order,
                                        time_spent_ms=imported.time_spent_ms, strength=imported.strength,
                                        review_status=imported.review_status,
                                        queued_for_review_at=(imported.created_at or timezone.now()) if pending
                                        else None))
                imported_rankings.append(imported)
            tasks += [Task(project=project, prompt=prompt, kind=TaskKind.RANK)
                      for _ in range(project.overlap - len(counts))]
        Task.objects.bulk_create(tasks)
        submitted = [task for task in tasks if task.state == TaskState.SUBMITTED]
        for ranking, task in zip(rankings, submitted):
            ranking.task = task
        Ranking.objects.bulk_create(rankings)
        dated = []
        for ranking, imported in zip(rankings, imported_rankings):
            if imported.created_at:
                ranking.created_at = imported.created_at
                dated.append(ranking)
        # created_at is auto_now_add, which INSERT overrides; the source's time is kept so that date
        # filters mean the same in this project.
        Ranking.objects.bulk_update(dated, ["created_at"], batch_size=STORE_BATCH)
        CandidateRating.objects.bulk_create([
            CandidateRating(ranking=ranking, candidate=by_index[ranking.prompt_id, r["candidate"]], tier=r["tier"],
                            likert=r["likert"], flags=r["flags"])
            for ranking, imported in zip(rankings, imported_rankings) for r in imported.ratings])
        PromptAgreement.objects.bulk_create([_imported_agreement(project, prompt, counts)
                                             for prompt, counts in zip(prompts, counted) if counts])


def _counted(item):
    """The imported rankings that fill a rank slot and count in the prompt's agreement: all but rejected
    ones, as after a reviewer rejects one here (review_ranking)."""
    return [ranking for ranking in item.rankings if ranking.review_status != ReviewStatus.REJECTED]


def _imported_agreement(project, prompt, rankings):
    """A ranked imported prompt's PromptAgreement, as submits would have added it up: over every two of its
    rankings, the candidate pairs they order alike and Kendall's tau (rankdata.agreement), so that agreement
    filters and figures mean the same for imported and labeled prompts."""
    sums = PromptAgreement(prompt=prompt, project=project, rankings=len(rankings))
    tiers = [{r["candidate"]: r["tier"] for r in ranking.ratings} for ranking in rankings]
    for i, mine in enumerate(tiers):
        for theirs in tiers[:i]:
            same, pairs = agreeing_pairs(mine, theirs)
            tau = kendall_tau(mine, theirs)
            sums.agreeing_pairs += same
            sums.pairs += pairs
            sums.tau_sum += tau or 0.0
            sums.tau_count += int(tau is not None)
    return sums


# --- The queue -------------------------------------------------------------------------------

def lease_next(labeler, project, kind):
    """Give `labeler` the next task of `kind`, or None when the pool is empty.

    A labeler holding an unexpired lease gets it back (a reload keeps the task and its draft)."""
    if kind not in project.enabled_kinds:
        return None
    held = Task.objects.held_lease(labeler, project, kind)
    if held and not held.is_expired:
        return held
    try:
        # One transaction, so the whole lease costs one commit (a WAL flush) on PostgreSQL.
        with transaction.atomic():
            if held:
                _release_expired_lease(held)
            return _claim(labeler, project, kind)
    except IntegrityError:
        # The same labeler asked twice at once: one_lease_per_labeler_and_kind stopped the second
        # request, and the first one's lease is theirs.
        return Task.objects.with_payload().filter(labeler=labeler, project=project, kind=kind,
                                                  state=TaskState.LEASED, expires_at__gt=timezone.now()).first()


def _claim(labeler, project, kind):
    if kind == TaskKind.WRITE_PROMPT:
        return _lease_prompt_writing(labeler, project)
    if kind == TaskKind.RANK:
        draw = draws.random()
        draw_gold = bool(project.gold_rate) and draw < project.gold_rate
        # A labeler in doubt draws gold at the project's doubt_gold_rate instead (LabelerQuality.in_doubt_now).
        doubt_draw = not draw_gold and draw < project.doubt_gold_rate
        if not (draw_gold or project.qualification_tasks):
            # The labeler's standing matters only through the flag (and on a doubt draw, the doubt), which
            # the claim checks itself: the common lease is one statement.
            task = Task.objects.claim_slot(labeler, project, kind, unless_flagged=project.flagged_get_no_tasks,
                                           unless_in_doubt=doubt_draw)
            if task is not None or not doubt_draw:
                return task
            # Refused on a doubt draw: in doubt (or the pool is empty), which the standing tells.
        access, gold_prompt_id = _ranking_access(labeler, project, draw_gold, doubt_draw)
        if access == "none":
            return None
        if gold_prompt_id is not None:
            return _lease_gold(labeler, project, gold_prompt_id)
        if access == "gold":
            return None  # qualifying, and no gold prompt they have not had is left
        return Task.objects.claim_slot(labeler, project, kind, unless_flagged=project.flagged_get_no_tasks)
    return Task.objects.claim_slot(labeler, project, kind)


def _ranking_access(labeler, project, draw_gold, doubt_draw=False):
    """What ranking work `labeler` may have when gold is in play (a qualification, or this lease drew gold
    at the project's rate or at the doubt rate), in one query: ("none", None) when flagged (where flagged
    labelers get no tasks) or failed the qualification; ("gold", prompt id or None) while qualifying;
    otherwise ("any", a gold prompt id when this lease drew gold, or drew it at the doubt rate and the
    labeler is in doubt, and one is left)."""
    standing = LabelerQuality.objects.filter(project=OuterRef("pk"), labeler=labeler)
    had_it = Task.objects.filter(prompt_id=OuterRef("prompt_id"), kind=TaskKind.RANK, labeler=labeler)
    gold = Subquery(GoldRanking.objects.filter(project=OuterRef("pk")).exclude(Exists(had_it))
                    .order_by(shuffled("prompt_id")).values("prompt_id")[:1])
    row = Project.objects.filter(pk=project.pk).values(
        flagged=Exists(standing.filter(flagged_at__isnull=False)), in_doubt=Exists(standing.filter(in_doubt=True)),
        qualification=Subquery(standing.values("qualification")[:1]), gold=gold).get()
    if row["flagged"] and project.flagged_get_no_tasks:
        return "none", None
    if project.qualification_tasks and row["qualification"] not in QUALIFIED:
        return ("none", None) if row["qualification"] == Qualification.FAILED else ("gold", row["gold"])
    return "any", row["gold"] if draw_gold or (doubt_draw and row["in_doubt"]) else None


def _lease_gold(labeler, project, prompt_id):
    """Lease `labeler` the gold prompt `prompt_id` (one they never had). It looks like any ranking task (its
    candidates shuffled as claim_slot shuffles them); it is a new task, not a pool slot (gold prompts have
    none)."""
    order = list(Candidate.objects.filter(prompt_id=prompt_id).values_list("id", flat=True))
    draws.shuffle(order)
    now = timezone.now()
    task = Task.objects.create(project=project, prompt_id=prompt_id, kind=TaskKind.RANK, state=TaskState.LEASED,
                               labeler=labeler, leased_at=now, expires_at=now + lease_duration(), lease_count=1,
                               display_order=order, gold_draw=True)
    return Task.objects.with_payload().get(pk=task.pk)


def _release_expired_lease(task):
    """Put an expired lease back in the pool (a write-prompt lease or a gold draw has no slot to return: it
    is withdrawn)."""
    if task.kind == TaskKind.WRITE_PROMPT or task.gold_draw:
        TASK_STATES.move(task, TaskState.WITHDRAWN)
    else:
        TASK_STATES.move(task, TaskState.OPEN, labeler=None, leased_at=None, expires_at=None)


def _lease_prompt_writing(labeler, project):
    now = timezone.now()
    use_case = draws.choice(project.use_cases) if project.use_cases else ""
    return Task.objects.create(project=project, kind=TaskKind.WRITE_PROMPT, state=TaskState.LEASED,
                               labeler=labeler, leased_at=now, expires_at=now + lease_duration(), use_case=use_case)


def _lock_task(task_id, labeler, kind=None):
    """Re-read the caller's task under a row lock and check they may finish it now.

    A task this labeler already finished is returned as is, so that a retried submit can answer with
    the stored result instead of storing it twice."""
    task = Task.objects.locked(task_id, labeler)
    if task is None:
        raise TaskNotFound("no such task of yours")
    if kind is not None and task.kind != kind:
        raise LeaseError(f"this task is a {task.get_kind_display().lower()} task")
    if task.state in (TaskState.SUBMITTED, TaskState.SKIPPED):
        return task
    if task.state != TaskState.LEASED:
        raise LeaseError(f"this task is {task.state}")
    if task.is_expired:
        raise LeaseError("your lease on this task has expired; get the next task")
    return task


def _lock_prompt_with_gold(prompt_id, project):
    """The prompt of a ranking being stored, its row locked, with its gold ranking (or none) and `project`.
    In SQL for the reason of Task.objects.locked: every submit reads it."""
    prompts, golds = Prompt._meta.db_table, GoldRanking._meta.db_table
    sql = (f"SELECT {select_list(Prompt, 'prompt')}, {select_list(GoldRanking, 'gold')} FROM {prompts} prompt "
           f"LEFT JOIN {golds} gold ON gold.prompt_id = prompt.id WHERE prompt.id = %s FOR UPDATE OF prompt")
    with connection.cursor() as cursor:
        cursor.execute(sql, [prompt_id])
        row = cursor.fetchone()
    prompt, gold = from_joined_row((Prompt, GoldRanking), row)
    prompt.project = project
    # As select_related("gold") leaves it: prompt.gold is this ranking, or raises DoesNotExist.
    Prompt.gold.related.set_cached_value(prompt, gold)
    return prompt


def _lock_prompt_query():
    # OF self: without it PostgreSQL would lock the joined project row too, and every submit in a project
    # would wait for the one before it to commit.
    return Prompt.objects.select_for_update(of=("self",)).select_related("project")


def _finish(task, new_state, **fields):
    if not TASK_STATES.move(task, new_state, finished_at=timezone.now(), **fields):
        # The lock in _lock_task holds the row, so only a bug elsewhere gets here.
        raise LeaseError(f"task {task.pk} changed state while it was being submitted")


# --- Submits ---------------------------------------------------------------------------------

@transaction.atomic
def submit_prompt(task_id, labeler, *, messages, kind=PromptKind.PLAIN, few_shot=None, time_spent_ms=0):
    task = _lock_task(task_id, labeler, TaskKind.WRITE_PROMPT)
    if task.state == TaskState.SUBMITTED:
        return task.written_prompt
    prompt = create_prompt(task.project, messages=messages, kind=kind, few_shot=few_shot, use_case=task.use_case,
                           source=PromptSource.LABELER, author=labeler)
    _finish(task, TaskState.SUBMITTED, written_prompt=prompt, time_spent_ms=time_spent_ms)
    return prompt


@transaction.atomic
def submit_demonstration(task_id, labeler, *, text, time_spent_ms=0):
    task = _lock_task(task_id, labeler, TaskKind.WRITE_DEMONSTRATION)
    if task.state == TaskState.SUBMITTED:
        return task.demonstration
    validate_text("text", text)
    demonstration = Demonstration.objects.create(prompt_id=task.prompt_id, author=labeler, task=task, text=text,
                                                 time_spent_ms=time_spent_ms)
    _finish(task, TaskState.SUBMITTED, time_spent_ms=time_spent_ms)
    prompt = _lock_prompt_query().get(pk=task.prompt_id)
    if prompt.state == PromptState.AWAITING_DEMONSTRATION:
        move_prompt(prompt, PromptState.AWAITING_CANDIDATES)
    return demonstration


@transaction.atomic
def submit_ranking(task_id, labeler, *, ratings, time_spent_ms=0, strength=""):
    """`ratings`: one dict per candidate with `candidate` (id), `tier` (1 = best, ties share a tier),
    `likert` (1-7) and `flags` (names from FLAGS); `strength`: how much the best beats the second
    (PREFERENCE_STRENGTHS), or blank."""
    return _submit_ranking(task_id, labeler, ratings, time_spent_ms, strength)[0]


def submit_ranking_and_lease_next(task_id, labeler, *, ratings, time_spent_ms=0, strength=""):
    """Store the ranking and lease the labeler's next ranking task: (ranking, next task or None).

    One transaction, so a labeler's whole round trip costs one commit. The next task is claimed
    directly: the labeler held no other rank lease of this project (one per kind) — except after a
    retried submit, whose first attempt may have leased one already; that one is given back."""
    with transaction.atomic():
        ranking, fresh = _submit_ranking(task_id, labeler, ratings, time_spent_ms, strength)
        project = ranking.task.project
        if fresh:
            return ranking, _claim(labeler, project, TaskKind.RANK)
    return ranking, lease_next(labeler, project, TaskKind.RANK)


def _submit_ranking(task_id, labeler, ratings, time_spent_ms, strength):
    """(ranking, True) when this call stored it, (the stored ranking, False) for a retried submit."""
    task = _lock_task(task_id, labeler, TaskKind.RANK)
    if task.state == TaskState.SUBMITTED:
        return task.ranking, False
    candidate_ids = task.display_order or list(Candidate.objects.filter(prompt_id=task.prompt_id)
                                               .values_list("id", flat=True))
    tiers = validate_ratings(ratings, candidate_ids)
    strength = validate_strength(strength, tiers)
    ranking = Ranking.objects.create(prompt_id=task.prompt_id, labeler=labeler, task=task,
                                     display_order=candidate_ids, time_spent_ms=time_spent_ms, strength=strength,
                                     **_review_sample(task.project))
    _store_ratings(ranking, ratings, tiers)
    _finish(task, TaskState.SUBMITTED, time_spent_ms=time_spent_ms)
    # The last of a prompt's rank slots finishes it. The prompt's row lock orders concurrent last submits
    # (and so the additions to the prompt's agreement).
    prompt = _lock_prompt_with_gold(task.prompt_id, task.project)
    agreement = _score_ranking(ranking, tiers, prompt)
    still_open = Task.objects.filter(prompt=prompt, kind=TaskKind.RANK, state__in=UNFINISHED_TASK_STATES).exists()
    if not still_open and prompt.state == PromptState.READY and not _ask_another_labeler(prompt, agreement):
        move_prompt(prompt, PromptState.DONE)
    return ranking, True


def _store_ratings(ranking, ratings, tiers):
    CandidateRating.objects.bulk_create([
        CandidateRating(ranking=ranking, candidate_id=r["candidate"], tier=tiers[r["candidate"]],
                        likert=r["likert"], flags=sorted(set(r.get("flags") or [])))
        for r in ratings
    ])


class AmendRefused(Exception):
    """The labeler's own ranking may not be amended now; the message says why (Ranking.amend_refusal)."""


@transaction.atomic
def amend_ranking(task_id, labeler, *, ratings, time_spent_ms=0, strength=""):
    """Replace the ranking the labeler submitted for task `task_id` with new `ratings` and `strength` (as
    submit_ranking takes them), within RANKWISE_AMEND_MINUTES of submitting and before a reviewer decides on
    it (Ranking.amend_refusal). `time_spent_ms`, the time spent amending, adds to the ranking's.

    The figures end as if the new ranking had been the one submitted: the old ranking's contribution comes
    out of every counter its submit moved and the new one's goes in, in this one transaction, and the rules
    run on the result as after a submit: a done prompt whose agreement falls below the threshold gets its
    extra slot (or its contentious mark), and a qualification this ranking helped settle is settled again.
    What the old figures set off stays (a flag, an extra slot, a contentious mark)."""
    task = (Task.objects.select_for_update(of=("self",)).select_related("project")
            .filter(pk=task_id, labeler=labeler, kind=TaskKind.RANK).first())
    if task is None:
        raise TaskNotFound("no such ranking task of yours")
    # Locks: task, ranking, prompt. Submits lock task then prompt, reviews ranking then prompt: no cycle.
    ranking = Ranking.objects.select_for_update(of=("self",)).filter(task=task).first()
    if ranking is None:
        raise AmendRefused("this task has not been submitted")
    prompt = _lock_prompt_query().select_related("gold").get(pk=task.prompt_id)
    ranking.task, ranking.prompt = task, prompt
    refusal = ranking.amend_refusal()
    if refusal:
        raise AmendRefused(refusal)
    tiers = validate_ratings(ratings, ranking.display_order)
    strength = validate_strength(strength, tiers)

    gold = _gold_of(prompt)
    scored_against = _scored_against(prompt, ranking, gold)
    old_tiers = dict(ranking.ratings.values_list("candidate_id", "tier"))
    old_rows, old_sums = _contribution(ranking, old_tiers, prompt, gold, *scored_against)
    ranking.time_spent_ms = min(ranking.time_spent_ms + time_spent_ms, MAX_INT32)
    new_rows, new_sums = _contribution(ranking, tiers, prompt, gold, *scored_against)
    ranking.ratings.all().delete()
    _store_ratings(ranking, ratings, tiers)
    ranking.strength, ranking.amended_at = strength, timezone.now()
    ranking.save(update_fields=["strength", "time_spent_ms", "amended_at"])
    # The task's time is what the per-labeler speed figures read (labeling.quality.median_ms_per_ranking).
    Task.objects.filter(pk=task.pk).update(time_spent_ms=ranking.time_spent_ms)

    agreement = None
    if new_sums is not None:
        agreement, = shift_counters(PromptAgreement, ("prompt",),
                                    [_difference(new_sums, old_sums, ("prompt",), PROMPT_COUNTERS)])
    project = task.project
    # A gold ranking the qualification was settled on, as it is now: the recent windows started after it.
    settled_on_it = (gold is not None and project.qualification_tasks and LabelerQuality.objects.filter(
        project=project, labeler=labeler, qualification__in=[Qualification.PASSED, Qualification.FAILED],
        gold_rankings=F("qualification_gold_before") + project.qualification_tasks).exists())
    keys = ("project", "labeler")
    windowed, counters = ((), LABELER_COUNTERS) if settled_on_it else (tuple(_windows(project)),
                                                                       LABELER_COUNTERS + WINDOW_DELTAS)
    changes = [_difference(new_rows[key], old_rows[key], keys, counters) for key in sorted(new_rows)]
    standings = shift_counters(LabelerQuality, keys, changes, windows=windowed)
    if settled_on_it:
        own = next(standing for standing in standings if standing.labeler_id == labeler.pk)
        own.qualification = own.qualification_outcome(project)
        LabelerQuality.objects.filter(pk=own.pk).update(qualification=own.qualification)
    _after_scoring(prompt, gold, agreement, standings, tiers)
    if prompt.state == PromptState.DONE:
        # Done on the old agreement: with the new one it may have needed another labeler, as after a submit.
        _ask_another_labeler(prompt, agreement)
    return ranking


def _difference(new, old, key_fields, counters):
    """new - old for each counter of two _contribution rows, with the row's key."""
    return {**{name: new[name] for name in key_fields}, **{name: new[name] - old[name] for name in counters}}


# --- Quality figures, kept up to date on every submit -------------------------------------------

def _labeler_counters(project, labeler_id, **values):
    """One row for add_to_counters(LabelerQuality): every counter and recent window, zero unless given."""
    row = dict.fromkeys(LABELER_COUNTERS + WINDOW_COUNTERS, 0)
    row.update(project=project.pk, labeler=labeler_id, **values)
    return row


LABELER_COUNTERS = (
    "rankings", "candidates_ranked", "time_spent_ms", "skips", "peer_comparisons", "peer_agreeing_pairs",
    "peer_pairs", "peer_tau_sum", "peer_tau_count", "gold_rankings", "gold_agreeing_pairs", "gold_pairs",
    "position_n", "position_sx", "position_sy", "position_sxx", "position_syy", "position_sxy",
    "length_n", "length_sx", "length_sy", "length_sxx", "length_syy", "length_sxy",
)


# The recent windows' new observations (add_to_counters rolls them; see LabelerQuality).
WINDOW_COUNTERS = tuple(f"{prefix}_{name}" for prefix in ("recent", "recent_gold") for name in WINDOW_SUMS)
# What an amendment changes in them: the amended observations' pairs, never their number (shift_counters puts
# the change in the bucket that holds them, so the windows agree with the lifetime sums they are part of).
WINDOW_DELTAS = tuple(f"{prefix}_{name}" for prefix in ("recent", "recent_gold") for name in ("agreeing", "pairs"))


def _windows(project):
    return {"recent": project.flag_window, "recent_gold": project.flag_window}


PROMPT_COUNTERS = ("rankings", "agreeing_pairs", "pairs", "tau_sum", "tau_count")


def _correlation_sums(prefix, xs, ys):
    return {f"{prefix}_n": len(xs), f"{prefix}_sx": sum(xs), f"{prefix}_sy": sum(ys),
            f"{prefix}_sxx": sum(x * x for x in xs), f"{prefix}_syy": sum(y * y for y in ys),
            f"{prefix}_sxy": sum(x * y for x, y in zip(xs, ys))}


def _score_ranking(ranking, tiers, prompt):
    """Add a new ranking to the figures: its labeler's speed and biases, its agreement with the gold
    reference (a gold prompt) or with the prompt's other labelers (any other prompt, for both sides of each
    comparison), then apply the project's qualification and flag rules to every labeler whose figures moved.

    `tiers`: {candidate id: dense tier}; `prompt` read with its project and gold ranking. Returns the
    prompt's PromptAgreement (None for a gold prompt). A fixed number of statements, whatever the overlap:
    one read of the prompt's rankings (or, for a gold prompt, its candidates) and one addition per table."""
    gold = _gold_of(prompt)
    rows, prompt_sums = _contribution(ranking, tiers, prompt, gold, *_scored_against(prompt, ranking, gold))
    agreement = None
    if prompt_sums is not None:
        agreement, = add_to_counters(PromptAgreement, ("prompt",), [prompt_sums])
    # In labeler order, so that two submits touching the same labelers lock their rows in the same order.
    standings = add_to_counters(LabelerQuality, ("project", "labeler"), [rows[key] for key in sorted(rows)],
                                _windows(prompt.project))
    _after_scoring(prompt, gold, agreement, standings, tiers)
    return agreement


def _scored_against(prompt, ranking, gold):
    """(the prompt's other labelers' tiers, {labeler id: {candidate id: tier}}, empty for a gold prompt;
    each candidate's length in characters): what a ranking of `prompt` is compared with."""
    if gold is not None:
        return {}, dict(Candidate.objects.filter(prompt=prompt).annotate(chars=Length("text"))
                        .values_list("id", "chars"))
    others, lengths = {}, {}
    for labeler_id, candidate_id, tier, chars, status in (
            CandidateRating.objects.filter(ranking__prompt=prompt).annotate(chars=Length("candidate__text"))
            .values_list("ranking__labeler_id", "candidate_id", "tier", "chars", "ranking__review_status")):
        lengths[candidate_id] = chars
        # A rejected ranking is not compared with: it left the agreement when it was rejected.
        if labeler_id != ranking.labeler_id and status != ReviewStatus.REJECTED:
            others.setdefault(labeler_id, {})[candidate_id] = tier
    return others, lengths


def _contribution(ranking, tiers, prompt, gold, others, lengths):
    """What one ranking with `tiers` adds to the figures: ({labeler id: LabelerQuality counters}, the
    PromptAgreement counters, None for a gold prompt). Every counter a ranking moves is here, so that an
    amendment can take one ranking's contribution out and put another's in (amend_ranking)."""
    project = prompt.project
    order = ranking.display_order
    # Length rank 1 = the longest (ties share a rank), so that "longest first" correlates +1 with the tiers.
    length_rank = dict(zip(order, dense_tiers([-lengths[candidate] for candidate in order])))
    tier_list = [tiers[candidate] for candidate in order]
    own = _labeler_counters(
        project, ranking.labeler_id, rankings=1, candidates_ranked=len(order), time_spent_ms=ranking.time_spent_ms,
        **_correlation_sums("position", list(range(1, len(order) + 1)), tier_list),
        **_correlation_sums("length", [length_rank[candidate] for candidate in order], tier_list))
    rows = {ranking.labeler_id: own}
    if gold is not None:
        same, pairs = agreeing_pairs(tiers, gold.tiers)
        own.update(gold_rankings=1, gold_agreeing_pairs=same, gold_pairs=pairs, recent_count=1, recent_agreeing=same,
                   recent_pairs=pairs, recent_gold_count=1, recent_gold_agreeing=same, recent_gold_pairs=pairs)
        return rows, None
    prompt_sums = {"prompt": prompt.pk, "project": project.pk, **dict.fromkeys(PROMPT_COUNTERS, 0), "rankings": 1}
    for labeler_id, theirs in others.items():
        same, pairs = agreeing_pairs(tiers, theirs)
        tau = kendall_tau(tiers, theirs)
        comparison = {"peer_comparisons": 1, "peer_agreeing_pairs": same, "peer_pairs": pairs,
                      "peer_tau_sum": tau or 0.0, "peer_tau_count": int(tau is not None),
                      "recent_count": 1, "recent_agreeing": same, "recent_pairs": pairs}
        rows[labeler_id] = _labeler_counters(project, labeler_id, **comparison)
        for name, value in comparison.items():
            own[name] += value
        prompt_sums["agreeing_pairs"] += same
        prompt_sums["pairs"] += pairs
        prompt_sums["tau_sum"] += comparison["peer_tau_sum"]
        prompt_sums["tau_count"] += comparison["peer_tau_count"]
    return rows, prompt_sums


def _after_scoring(prompt, gold, agreement, standings, tiers):
    """The rules, on the figures a ranking just moved: qualification and flags for each labeler concerned,
    and promotion of a unanimously ranked prompt to gold."""
    project = prompt.project
    for standing in standings:
        _apply_quality_rules(standing, project)
    if gold is None and project.gold_after_unanimous and agreement.rankings >= project.gold_after_unanimous \
            and agreement.agreeing_pairs == agreement.pairs:
        _store_gold(prompt, tiers, GoldSource.UNANIMOUS)


def _gold_of(prompt):
    try:
        return prompt.gold
    except GoldRanking.DoesNotExist:
        return None


def _apply_quality_rules(standing, project):
    """Settle a finished qualification and flag a labeler who breaks a rule (unless an admin cleared them)."""
    changes = {}
    if (project.qualification_tasks and standing.qualification == Qualification.PENDING
            and standing.qualification_done >= project.qualification_tasks):
        changes["qualification"] = standing.qualification_outcome(project)
        # The recent window starts after the qualification, whose level it is compared with (earlier()).
        window = {f"{prefix}_{bucket}{name}": 0 for prefix in ("recent", "recent_gold") for bucket in ("", "prev_")
                  for name in WINDOW_SUMS}
        changes.update(window)
        for name, value in window.items():
            setattr(standing, name, value)
    if standing.in_doubt_now(project) != standing.in_doubt:
        # Written when it changes (a few times in a labeler's life), for the lease to read.
        changes["in_doubt"] = not standing.in_doubt
    if not standing.is_flagged and standing.flag_cleared_by_id is None:
        reasons = standing.rule_breaches(project)
        if reasons:
            changes.update(flagged_at=timezone.now(), flag_reasons=reasons)
    if changes:
        LabelerQuality.objects.filter(pk=standing.pk).update(**changes)
    if standing.is_flagged or "flagged_at" in changes:
        # A flagged labeler is under watch: each of their rankings in the project goes to review, where a
        # reviewer's acceptance takes it out of quarantine. (Flagged labelers are few: this UPDATE is rare.)
        queue_for_review(Ranking.objects.filter(labeler_id=standing.labeler_id, prompt__project=project,
                                                review_status=ReviewStatus.UNREVIEWED), ReviewCause.WATCHED)


def _ask_another_labeler(prompt, agreement):
    """A prompt whose rank slots are all done, with agreement below the project's threshold, gets one more
    slot (True) until the cap; past it, the prompt is marked contentious, every ranking of it goes to
    review, and it is done (False). A prompt already done (an amendment lowered its agreement) reopens for
    the slot."""
    project = prompt.project
    if agreement is None or agreement.agreement is None or agreement.agreement >= project.agreement_threshold:
        return False
    if agreement.extra_slots < project.contentious_extra_slots:
        PromptAgreement.objects.filter(pk=agreement.pk).update(extra_slots=F("extra_slots") + 1)
        if prompt.state == PromptState.DONE:
            move_prompt(prompt, PromptState.READY)  # reopening opens the one slot
        else:
            Task.objects.open_slots(prompt, TaskKind.RANK, 1)
        return True
    PromptAgreement.objects.filter(pk=agreement.pk).update(contentious=True)
    queue_for_review(Ranking.objects.filter(prompt=prompt), ReviewCause.CONTENTIOUS)
    return False


# --- Gold rankings and labeler standing (admin actions) -----------------------------------------

def _store_gold(prompt, tiers, source):
    """Make `prompt` gold with `tiers` ({candidate id: tier}) as its reference; its unclaimed pool slots
    close, since gold prompts reach labelers only through the gold mix."""
    gold, _ = GoldRanking.objects.update_or_create(
        prompt=prompt, defaults={"project_id": prompt.project_id, "source": source,
                                 "reference": {str(candidate): tier for candidate, tier in tiers.items()}})
    TASK_STATES.move_all(Task.objects.filter(prompt=prompt, kind=TaskKind.RANK), [TaskState.OPEN], TaskState.WITHDRAWN)
    return gold


def mark_gold(prompt, reference, *, source=GoldSource.ADMIN, field="reference"):
    """Make `prompt` gold. `reference`: one tier per candidate in candidate index order (1 = best, ties share
    a tier); a ValidationError naming `field` when it is not a ranking of this prompt's candidates."""
    candidates = list(prompt.candidates.order_by("index").values_list("id", flat=True))
    if not candidates:
        raise ValidationError({field: "this prompt has no candidates to rank"})
    tiers = validate_reference(reference, len(candidates), field)
    return _store_gold(prompt, dict(zip(candidates, tiers)), source)


def gold_from_ranking(ranking, *, source=GoldSource.REVIEW):
    """Make a ranking's prompt gold with that ranking as the reference (an accepted review's ranking)."""
    tiers = dict(ranking.ratings.values_list("candidate_id", "tier"))
    return _store_gold(ranking.prompt, tiers, source)


def clear_flag(standing, admin):
    """An admin vouches for a flagged labeler: they get tasks again, their rankings leave quarantine, and
    the rules do not flag them again."""
    LabelerQuality.objects.filter(pk=standing.pk).update(flagged_at=None, flag_reasons=[], flag_cleared_by=admin)


def reset_qualification(standing):
    """The labeler takes the qualification again, on gold prompts they have not had."""
    LabelerQuality.objects.filter(pk=standing.pk).update(
        qualification=Qualification.PENDING, qualification_gold_before=F("gold_rankings"),
        qualification_agreeing_before=F("gold_agreeing_pairs"), qualification_pairs_before=F("gold_pairs"))


def override_qualification(project, labeler):
    """An admin lets a labeler through without (or despite) the qualification."""
    LabelerQuality.objects.update_or_create(project=project, labeler=labeler,
                                            defaults={"qualification": Qualification.OVERRIDDEN})


@transaction.atomic
def skip_task(task_id, labeler, *, reason, note=""):
    """Give the slot back under a new row (the skipping labeler keeps the old one, so they never get
    this prompt again in this kind), and take the prompt out of the queue if enough labelers report it."""
    task = _lock_task(task_id, labeler)
    if task.state == TaskState.SKIPPED:
        return task
    if task.state == TaskState.SUBMITTED:
        raise LeaseError("this task was already submitted")
    if reason not in SkipReason.values:
        raise ValidationError({"reason": f"must be one of {', '.join(SkipReason.values)}"})
    validate_text("note", note, allow_empty=True)
    _finish(task, TaskState.SKIPPED, skip_reason=reason, skip_note=note)
    if task.kind == TaskKind.RANK:
        add_to_counters(LabelerQuality, ("project", "labeler"), [_labeler_counters(task.project, labeler.pk, skips=1)])
    if task.prompt_id is None or task.gold_draw:
        return task
    prompt = _lock_prompt_query().get(pk=task.prompt_id)
    if prompt.state not in OPEN_PROMPT_STATES:
        return task
    reports = Task.objects.filter(prompt=prompt, state=TaskState.SKIPPED, skip_reason__in=REPORT_REASONS).count()
    if reports >= task.project.report_threshold:
        move_prompt(prompt, PromptState.REPORTED)
    else:
        Task.objects.open_slots(prompt, task.kind, 1, priority=task.priority)
    return task


# --- Review ------------------------------------------------------------------------------------

def _review_sample(project):
    """The review fields of a new ranking: pending (cause: sample) for a `review_rate` share of them.

    Decided in Python and written by the INSERT that stores the ranking: sampling costs submit no query."""
    if project.review_rate and draws.random() < project.review_rate:
        return {"review_status": ReviewStatus.PENDING, "review_cause": ReviewCause.SAMPLE,
                "queued_for_review_at": timezone.now()}
    return {}


def queue_for_review(rankings, cause):
    """Put the not-yet-reviewed rankings among `rankings` (a queryset) in the review queue with `cause`
    (a ReviewCause); a ranking already queued or reviewed keeps its state. Returns how many were queued.

    Quality control calls this for every ranking of a contentious prompt and of a labeler under watch."""
    if cause not in ReviewCause.values:
        raise ValidationError({"cause": f"must be one of {', '.join(ReviewCause.values)}"})
    return REVIEW_STATES.move_all(rankings, [ReviewStatus.UNREVIEWED], ReviewStatus.PENDING, review_cause=cause,
                                  queued_for_review_at=timezone.now())


class ReviewNotFound(Exception):
    """No such ranking waiting for review in a project the reviewer may review."""


@transaction.atomic
def review_ranking(ranking_id, reviewer, *, accept, reason=""):
    """A reviewer's decision on a pending ranking. A rejected ranking leaves training and the default
    exports (Ranking.objects.usable_for_training), and its overlap slot goes back to the pool as a fresh
    open rank slot, so the prompt still gets its N rankings (from another labeler: the rejected one
    keeps their slot, and never gets the prompt again).

    A rejection needs a reason; the labeler sees it with the outcome on their own history."""
    if not isinstance(accept, bool):
        raise ValidationError({"decision": "must be accept or reject"})
    validate_text("reason", reason, allow_empty=accept)
    ranking = (Ranking.objects.select_for_update(of=("self",)).select_related("prompt__project")
               .filter(pk=ranking_id).first())
    if ranking is None or ranking.review_status != ReviewStatus.PENDING:
        raise ReviewNotFound("no such ranking waiting for review")
    if ranking.labeler_id == reviewer.pk:
        raise ValidationError({"ranking": "reviewers do not review their own rankings"})
    decision = ReviewStatus.ACCEPTED if accept else ReviewStatus.REJECTED
    REVIEW_STATES.move(ranking, decision, review_reason=reason.strip(), reviewed_by=reviewer,
                       reviewed_at=timezone.now())
    if not accept:
        # The prompt's lock orders this against submits adding to the same prompt's agreement.
        prompt = _lock_prompt_query().select_related("gold").get(pk=ranking.prompt_id)
        _discount_rejected(ranking, prompt)
        _give_slot_back(prompt)
    return ranking


def _discount_rejected(ranking, prompt):
    """Take a rejected ranking out of the agreement it was counted in: its prompt's, and the peer agreement
    of the labelers it was compared with, as if it had never been submitted (later rankings are not compared
    with it: _scored_against). Its own labeler's figures keep it: it is evidence about them. A gold prompt's
    ranking was compared with the reference alone, so nothing of others moves."""
    gold = _gold_of(prompt)
    if gold is not None:
        return
    tiers = dict(ranking.ratings.values_list("candidate_id", "tier"))
    rows, prompt_sums = _contribution(ranking, tiers, prompt, gold, *_scored_against(prompt, ranking, gold))
    shift_counters(PromptAgreement, ("prompt",), [{"prompt": prompt.pk, **{
        name: -prompt_sums[name] for name in PROMPT_COUNTERS}}])
    peer = ("peer_comparisons", "peer_agreeing_pairs", "peer_pairs", "peer_tau_sum", "peer_tau_count")
    shift_counters(LabelerQuality, ("project", "labeler"), [
        {"project": prompt.project_id, "labeler": labeler_id, **{name: -rows[labeler_id][name] for name in peer}}
        for labeler_id in sorted(rows) if labeler_id != ranking.labeler_id])


def _give_slot_back(prompt):
    if _gold_of(prompt) is not None:
        return  # a gold prompt has no pool slots: it reaches labelers only through the gold mix
    if prompt.state == PromptState.DONE:
        move_prompt(prompt, PromptState.READY)
    elif prompt.state == PromptState.READY:
        Task.objects.open_slots(prompt, TaskKind.RANK, 1)
    # A reported prompt gets no new slot: nobody ranks it any more.
