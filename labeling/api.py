"""The REST API: everything a labeler does in the browser, plus the admin's project calls (imports are in
exports.api).

Views are thin: they check input shape with serializers and call one labeling.workflow function."""
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as ModelValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from labeling import generator_settings, limits, quality, workflow
from labeling.model_comparison import project_comparison
from labeling.models import Project, Prompt, PromptKind, Ranking, SkipReason, Task, TaskKind, TaskState
from labeling.models.projects import guidelines_for, render_guidelines
from labeling.rendering import render_markdown
from labeling.roles import REVIEW_PERMISSION
from labeling.rest import BoundedJSONParser
from labeling.stats import labeler_stats, project_progress, queue_counts
from labeling.models.prompts import few_shot_text
from labeling.validation import FLAGS, LIKERT_MAX, LIKERT_MIN, MAX_K, PREFERENCE_STRENGTHS
from rankdata.text import ROLES


class IsProjectAdmin(permissions.BasePermission):
    message = "Only admins can do this."

    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm("labeling.manage_project")


class IsReviewer(permissions.BasePermission):
    message = "Only reviewers can do this."

    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm(REVIEW_PERMISSION)


def as_drf_error(exc):
    """A model ValidationError becomes a 400 that names the field and the reason."""
    if hasattr(exc, "message_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"non_field_errors": exc.messages})


# --- Serializers -----------------------------------------------------------------------------

# The project's quality-control rules (issue 11): admins set them like any other project setting.
QUALITY_SETTINGS = [
    "review_rate", "agreement_threshold", "contentious_extra_slots", "gold_rate", "doubt_gold_rate",
    "gold_after_unanimous", "qualification_tasks",
    "qualification_min_agreement", "flag_min_gold_accuracy", "flag_after_gold", "flag_min_peer_agreement",
    "flag_after_comparisons", "flag_max_position_bias", "flag_min_ms_per_candidate", "flag_after_rankings",
    "flag_window", "flag_max_drop", "flagged_get_no_tasks",
]


class LabelerProjectSerializer(serializers.ModelSerializer):
    """A project as labelers see it: what they need to label. Not the quality rules, which would tell them
    what a check looks for, nor the generator settings (a backend URL, a model, an API key)."""
    guidelines_html = serializers.CharField(read_only=True)
    enabled_kinds = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Project
        fields = ["id", "name", "guidelines", "guidelines_html", "k", "overlap", "write_prompts_enabled",
                  "demonstrations_enabled", "ranking_enabled", "rank_order", "use_cases", "report_threshold",
                  "min_validation_comparisons", "enabled_kinds", "created_at"]
        extra_kwargs = {"guidelines": {"max_length": limits.MAX_GUIDELINES_CHARS}}

    def validate_use_cases(self, value):
        return checked(limits.check_use_cases, value)


class ProjectSerializer(LabelerProjectSerializer):
    """A project as its admins configure it: with the quality rules and the generator settings, whose API key
    is write-only (`generation_api_key_set` says whether one is stored)."""

    generation_api_key_set = serializers.SerializerMethodField()

    class Meta(LabelerProjectSerializer.Meta):
        fields = [*LabelerProjectSerializer.Meta.fields, "generation", "generation_api_key_set", *QUALITY_SETTINGS]

    def get_generation_api_key_set(self, project) -> bool:
        return generator_settings.has_secret(project.generation)

    def to_representation(self, project):
        data = super().to_representation(project)
        data["generation"] = generator_settings.without_secrets(project.generation)
        return data

    def validate_generation(self, value):
        checked(limits.check_settings_object, value)
        return generator_settings.merge_secrets(self.instance.generation if self.instance else {}, value)

    def validate(self, attrs):
        # As the admin's form does through Project.clean: the settings must give K candidates, so a change
        # of either is checked against the other.
        if "generation" in attrs or "k" in attrs:
            generation = attrs.get("generation", self.instance.generation if self.instance else {})
            k = attrs.get("k", self.instance.k if self.instance else Project._meta.get_field("k").default)
            try:
                generator_settings.check(generation, k)
            except ModelValidationError as exc:
                raise as_drf_error(exc) from None
        return attrs


def checked(check, value):
    """Run one of labeling.limits' checks, turning its Django ValidationError into the serializer's own."""
    try:
        return check(value)
    except ModelValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=list(ROLES))
    content = serializers.CharField(trim_whitespace=False, max_length=limits.max_text_chars())


def task_payload(task):
    """What a labeler receives for a task, and nothing more: no model names, reward scores or generator
    settings (they would bias or leak), and the project's guidelines only by version (the page fetches
    them once per version, by ETag). Built as a plain dict because every next-task and submit response
    carries one, and a nested ModelSerializer cost more than the rest of the request's Python."""
    prompt = task.prompt
    candidates = []
    if task.kind == TaskKind.RANK:
        by_id = {candidate.id: candidate for candidate in prompt.candidates.all()}
        candidates = [{"id": i, "text": by_id[i].text, "html": by_id[i].html}
                      for i in task.display_order or by_id if i in by_id]
    return {
        "id": task.pk, "kind": task.kind, "state": task.state, "project_id": task.project_id,
        "guidelines_version": task.project.guidelines_version,
        "prompt": None if prompt is None else {
            "id": prompt.pk, "messages": prompt.messages, "kind": prompt.kind, "use_case": prompt.use_case,
            "messages_html": [render_markdown(message["content"]) for message in prompt.messages]},
        "candidates": candidates, "use_case": task.use_case, "leased_at": task.leased_at,
        "expires_at": task.expires_at, "finished_at": task.finished_at, "skip_reason": task.skip_reason,
    }


class PromptForLabelerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    messages = MessageSerializer(many=True)
    messages_html = serializers.ListField(child=serializers.CharField(),
                                          help_text="Each message's Markdown, rendered and sanitized.")
    kind = serializers.ChoiceField(choices=PromptKind.choices)
    use_case = serializers.CharField()


class CandidateForLabelerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    html = serializers.CharField(help_text="The text's Markdown, rendered and sanitized (labeling/rendering.py).")


class TaskSerializer(serializers.Serializer):
    """The schema of `task_payload` (for the OpenAPI document); the payload itself comes from that function."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    state = serializers.ChoiceField(choices=TaskState.choices)
    project_id = serializers.IntegerField()
    guidelines_version = serializers.CharField(help_text="GET /api/projects/{id}/guidelines/ when it changes.")
    prompt = PromptForLabelerSerializer(allow_null=True, help_text="Null for a write-prompt task.")
    candidates = CandidateForLabelerSerializer(many=True, help_text="In the order to show them (rank tasks).")
    use_case = serializers.CharField()
    leased_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    skip_reason = serializers.CharField()

    def to_representation(self, task):
        return task_payload(task)


class GuidelinesSerializer(serializers.Serializer):
    version = serializers.CharField()
    html = serializers.CharField(help_text="The project's guidelines, Markdown rendered and sanitized.")


class NextTaskRequest(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TaskKind.choices)


class FewShotExampleSerializer(serializers.Serializer):
    query = serializers.CharField(trim_whitespace=False, max_length=limits.max_text_chars())
    response = serializers.CharField(trim_whitespace=False, max_length=limits.max_text_chars())


class PromptSubmission(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PromptKind.choices, default=PromptKind.PLAIN)
    messages = MessageSerializer(many=True, required=False, max_length=limits.MAX_MESSAGES)
    text = serializers.CharField(required=False, trim_whitespace=False, max_length=limits.max_text_chars(),
                                 help_text="Shorthand for a single user message.")
    instruction = serializers.CharField(required=False, trim_whitespace=False, max_length=limits.max_text_chars(),
                                        help_text="Few-shot: the instruction.")
    examples = FewShotExampleSerializer(many=True, required=False, max_length=limits.MAX_FEW_SHOT_EXAMPLES,
                                        help_text="Few-shot: query/response pairs.")
    time_spent_ms = serializers.IntegerField(min_value=0, max_value=limits.MAX_INT32, default=0)

    def validate(self, data):
        if data["kind"] == PromptKind.FEW_SHOT:
            if not data.get("instruction", "").strip():
                raise serializers.ValidationError({"instruction": "a few-shot prompt needs an instruction"})
            if len(data.get("examples") or []) < 2:
                raise serializers.ValidationError({"examples": "a few-shot prompt needs at least 2 examples"})
            return data
        if not data.get("messages") and not data.get("text", "").strip():
            raise serializers.ValidationError({"text": "must not be empty"})
        return data




class DemonstrationSubmission(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=limits.max_text_chars())
    time_spent_ms = serializers.IntegerField(min_value=0, max_value=limits.MAX_INT32, default=0)


class RatingSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    tier = serializers.IntegerField(min_value=1, max_value=MAX_K,
                                    help_text="1 is best; candidates in the same tier are tied.")
    likert = serializers.IntegerField(min_value=LIKERT_MIN, max_value=LIKERT_MAX)
    flags = serializers.ListField(child=serializers.ChoiceField(choices=list(FLAGS)), default=list,
                                  max_length=len(FLAGS))


class RankingSubmission(serializers.Serializer):
    ratings = RatingSerializer(many=True, max_length=MAX_K)
    strength = serializers.ChoiceField(
        choices=list(PREFERENCE_STRENGTHS), required=False, allow_blank=True, default="",
        help_text="How much better the best response is than the second (Llama 2's scale); needs one response "
                  "alone in each of the first two tiers. Exported as the pairwise `margin`.")
    time_spent_ms = serializers.IntegerField(min_value=0, max_value=limits.MAX_INT32, default=0)


class SkipSubmission(serializers.Serializer):
    reason = serializers.ChoiceField(choices=SkipReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=limits.MAX_NOTE_CHARS)


class SubmitResult(serializers.Serializer):
    task = serializers.IntegerField()
    state = serializers.CharField()
    stored_id = serializers.IntegerField(allow_null=True)


class RankingSubmitResult(SubmitResult):
    next = TaskSerializer(allow_null=True, help_text="The labeler's next ranking task, or null when none is left.")
    amendable_until = serializers.DateTimeField(
        allow_null=True, help_text="Until when POST /api/tasks/{id}/amend/ may change this ranking (null: never).")


class StoredRatingSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(source="candidate_id")
    tier = serializers.IntegerField()
    likert = serializers.IntegerField()
    flags = serializers.ListField(child=serializers.CharField())


class AmendableRankingSerializer(serializers.Serializer):
    """A labeler's own submitted ranking, to amend: the task as it was shown, and what they stored."""

    task = TaskSerializer()
    ratings = StoredRatingSerializer(many=True)
    strength = serializers.CharField()
    amendable_until = serializers.DateTimeField()


class OwnRankingSerializer(serializers.ModelSerializer):
    """A labeler's own ranking on their history: the review's outcome and reason, never why it was queued
    (a pending review reads as not reviewed, so a labeler cannot tell they are being watched)."""

    review_status = serializers.SerializerMethodField()
    review_reason = serializers.SerializerMethodField()

    class Meta:
        model = Ranking
        fields = ["id", "prompt", "task", "created_at", "amended_at", "review_status", "review_reason", "reviewed_at"]

    def get_review_status(self, ranking) -> str:
        return ranking.review_as_labeler_sees_it()[0]

    def get_review_reason(self, ranking) -> str:
        return ranking.review_as_labeler_sees_it()[1]


class RatingForReviewerSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(source="candidate_id")
    text = serializers.CharField(source="candidate.text")
    tier = serializers.IntegerField()
    likert = serializers.IntegerField()
    flags = serializers.ListField(child=serializers.CharField())


class RankingForReviewSerializer(serializers.ModelSerializer):
    """What a reviewer sees: the prompt, the candidates in the order the labeler saw them with their tier,
    rating and flags, and why the ranking is in the queue."""

    project = serializers.IntegerField(source="prompt.project_id")
    messages = serializers.JSONField(source="prompt.messages")
    labeler = serializers.CharField(source="labeler.username")
    ratings = serializers.SerializerMethodField()

    class Meta:
        model = Ranking
        fields = ["id", "project", "prompt", "messages", "labeler", "ratings", "time_spent_ms", "created_at",
                  "review_status", "review_cause", "queued_for_review_at", "review_reason", "reviewed_at"]

    def get_ratings(self, ranking) -> list[dict]:
        return RatingForReviewerSerializer(ranking.ratings_in_display_order(), many=True).data


class ReviewQueueRequest(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())


class ReviewDecision(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    reason = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False,
                                   max_length=limits.MAX_NOTE_CHARS,
                                   help_text="Required for a rejection; the labeler sees it.")


class GoldRequest(serializers.Serializer):
    prompt = serializers.IntegerField(help_text="A prompt of this project, with its candidates.")
    reference = serializers.JSONField(help_text="One tier per candidate in candidate index order (1 = best, "
                                      "ties share a tier).")


class LabelerQualityRequest(serializers.Serializer):
    labeler = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), required=False,
                                                 help_text="A labeler's user id: only their figures.")


# --- Views -----------------------------------------------------------------------------------

class ProjectViewSet(viewsets.ModelViewSet):
    queryset = Project.objects.order_by("name")
    serializer_class = ProjectSerializer

    def get_permissions(self):
        if self.action in ("list", "retrieve", "next_task", "queue", "guidelines"):
            return [permissions.IsAuthenticated()]
        return [IsProjectAdmin()]

    def perform_update(self, serializer):
        order_before = serializer.instance.rank_order
        project = serializer.save()
        workflow.rank_order_saved(project, changed=project.rank_order != order_before)

    def get_serializer_class(self):
        user = getattr(self.request, "user", None)  # the schema generator asks without a request
        if user is None or user.has_perm("labeling.manage_project"):
            return ProjectSerializer
        return LabelerProjectSerializer

    @extend_schema(request=NextTaskRequest, responses={200: TaskSerializer, 204: OpenApiResponse(description="No task")})
    @action(detail=True, methods=["post"], url_path="next")
    def next_task(self, request, pk=None):
        project = self.get_object()
        body = NextTaskRequest(data=request.data)
        body.is_valid(raise_exception=True)
        task = workflow.lease_next(request.user, project, body.validated_data["kind"])
        if task is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_payload(task))

    @extend_schema(responses={200: GuidelinesSerializer, 304: OpenApiResponse(description="Not modified")})
    @action(detail=True, methods=["get"])
    def guidelines(self, request, pk=None):
        """The guidelines of one version; the version is the ETag, so a page that has them gets a 304.
        With `?kind=`, only what a page of that kind shows (labeling.models.projects.guidelines_for)."""
        project = self.get_object()
        kind = request.query_params.get("kind", "")
        if kind and kind not in TaskKind.values:
            raise ValidationError({"kind": f"must be one of {', '.join(TaskKind.values)}"})
        # The browser keeps them and asks again with If-None-Match (no-cache: always revalidated, so a new
        # version shows at once; private: they are behind a login).
        headers = {"ETag": f'"{project.guidelines_version}{"-" + kind if kind else ""}"',
                   "Cache-Control": "private, no-cache"}
        if headers["ETag"] in request.headers.get("If-None-Match", ""):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        html = render_guidelines(guidelines_for(project.guidelines, kind)) if kind else project.guidelines_html
        return Response({"version": project.guidelines_version, "html": html}, headers=headers)

    @action(detail=True, methods=["get"])
    def queue(self, request, pk=None):
        return Response(queue_counts(self.get_object(), request.user))

    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        return Response(project_progress(self.get_object()))

    @extend_schema(responses={200: dict}, summary="The project's quality figures (admins only)")
    @action(detail=True, methods=["get"])
    def quality(self, request, pk=None):
        """Agreement (pairwise, Kendall's tau, Krippendorff's alpha), agreement over time, review progress and
        the contentious prompts: read from the figures kept up to date on submit, never recomputed here."""
        project = self.get_object()
        contentious = quality.contentious_prompts(project)[:100]
        return Response({
            "figures": quality.project_figures(project),
            "agreement_over_time": quality.agreement_over_time(project),
            "review": quality.review_progress(project),
            "contentious_prompts": [{"prompt": row.prompt_id, "agreement": row.agreement, "rankings": row.rankings,
                                     "extra_slots": row.extra_slots} for row in contentious],
        })

    @extend_schema(parameters=[LabelerQualityRequest], responses={200: dict},
                   summary="Each labeler's quality figures in the project, or one labeler's (admins only)")
    @action(detail=True, methods=["get"])
    def labelers(self, request, pk=None):
        project = self.get_object()
        query = LabelerQualityRequest(data=request.query_params)
        query.is_valid(raise_exception=True)
        labeler = query.validated_data.get("labeler")
        if labeler is None:
            return Response(quality.labeler_table(project))
        figures = quality.labeler_figures(project, labeler)
        if figures is None:
            raise ValidationError({"labeler": f"{labeler.get_username()} has no rankings or skips in this project"})
        return Response(figures)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="model-comparison")
    def model_comparison(self, request, pk=None):
        """Admins only: which model people prefer (win rates, Bradley–Terry leaderboards, RM agreement,
        Likert and flag rates per model), with 95% bootstrap intervals."""
        return Response(project_comparison(self.get_object()))
    @extend_schema(request=GoldRequest, responses={201: dict})
    @action(detail=True, methods=["post"])
    def gold(self, request, pk=None):
        """Make a prompt gold, with a reference ranking of its candidates (admins only)."""
        project = self.get_object()
        body = GoldRequest(data=request.data)
        body.is_valid(raise_exception=True)
        prompt = Prompt.objects.filter(project=project, pk=body.validated_data["prompt"]).first()
        if prompt is None:
            raise ValidationError({"prompt": "no such prompt in this project"})
        try:
            with transaction.atomic():
                gold = workflow.mark_gold(prompt, body.validated_data["reference"])
        except ModelValidationError as exc:
            raise as_drf_error(exc) from None
        return Response({"prompt": gold.prompt_id, "reference": gold.reference, "source": gold.source},
                        status=status.HTTP_201_CREATED)


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A labeler's own tasks. Another labeler's task answers 404, as if it did not exist."""

    serializer_class = TaskSerializer
    parser_classes = [BoundedJSONParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Task.objects.none()
        return Task.objects.with_payload().filter(labeler=self.request.user).order_by("-id")

    def _task_id(self):
        # The router lets any path segment through; a number the database cannot hold is no task either.
        pk = self.kwargs["pk"]
        if not pk.isdigit() or int(pk) >= 2**63:
            raise NotFound("no such task of yours")
        return int(pk)

    def _submit(self, request, submission_class, submit):
        """Check the body's shape, call `submit(task id, data)` (a workflow function), and answer a refused
        submit with a 400 that names the field, or a 404 for a task that is not the caller's."""
        body = submission_class(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            return submit(self._task_id(), body.validated_data)
        except workflow.TaskNotFound:
            raise NotFound("no such task of yours") from None
        except ModelValidationError as exc:
            raise as_drf_error(exc) from None
        except workflow.LeaseError as exc:
            raise ValidationError({"task": str(exc)}) from None

    def _result(self, stored):
        return {"task": self._task_id(), "state": TaskState.SUBMITTED, "stored_id": stored.pk}

    @extend_schema(request=PromptSubmission, responses=SubmitResult)
    @action(detail=True, methods=["post"])
    def prompt(self, request, pk=None):
        def submit(task_id, data):
            if data["kind"] == PromptKind.FEW_SHOT:
                few_shot = {"instruction": data["instruction"], "examples": data["examples"]}
                messages = [{"role": "user", "content": few_shot_text(data["instruction"], data["examples"])}]
            else:
                few_shot = None
                messages = data.get("messages") or [{"role": "user", "content": data["text"]}]
            return workflow.submit_prompt(task_id, request.user, messages=messages, kind=data["kind"],
                                          few_shot=few_shot, time_spent_ms=data["time_spent_ms"])
        return Response(self._result(self._submit(request, PromptSubmission, submit)))

    @extend_schema(request=DemonstrationSubmission, responses=SubmitResult)
    @action(detail=True, methods=["post"])
    def demonstration(self, request, pk=None):
        stored = self._submit(request, DemonstrationSubmission, lambda task_id, data: workflow.submit_demonstration(
            task_id, request.user, text=data["text"], time_spent_ms=data["time_spent_ms"]))
        return Response(self._result(stored))

    @extend_schema(request=RankingSubmission, responses=RankingSubmitResult)
    @action(detail=True, methods=["post"])
    def ranking(self, request, pk=None):
        """Store the ranking and lease the labeler's next ranking task in the same response (`next`, or
        null when none is left), so that a labeler costs one request per ranking."""
        ranking, following = self._submit(request, RankingSubmission, lambda task_id, data: (
            workflow.submit_ranking_and_lease_next(task_id, request.user, ratings=data["ratings"],
                                                   time_spent_ms=data["time_spent_ms"], strength=data["strength"])))
        return Response({**self._result(ranking), "next": task_payload(following) if following else None,
                         "amendable_until": ranking.amendable_until if settings.RANKWISE_AMEND_MINUTES else None})

    @extend_schema(methods=["GET"], request=None, responses=AmendableRankingSerializer)
    @extend_schema(methods=["POST"], request=RankingSubmission, responses=SubmitResult)
    @action(detail=True, methods=["get", "post"])
    def amend(self, request, pk=None):
        """GET: the caller's ranking of this task as stored, to amend. POST: replace it (the body as for a
        ranking). Within RANKWISE_AMEND_MINUTES of submitting and before a reviewer decides on it; otherwise
        409 with the reason. Another labeler's task is a 404."""
        if request.method == "GET":
            ranking = (Ranking.objects.select_related("task__project", "prompt__gold").prefetch_related("ratings")
                       .filter(task_id=self._task_id(), labeler=request.user).first())
            if ranking is None:
                raise NotFound("no submitted ranking of yours for this task")
            refusal = ranking.amend_refusal()
            if refusal:
                return Response({"detail": refusal}, status=status.HTTP_409_CONFLICT)
            task = Task.objects.with_payload().get(pk=ranking.task_id)
            return Response({"task": task_payload(task),
                             "ratings": StoredRatingSerializer(ranking.ratings.all(), many=True).data,
                             "strength": ranking.strength, "amendable_until": ranking.amendable_until})
        try:
            ranking = self._submit(request, RankingSubmission, lambda task_id, data: workflow.amend_ranking(
                task_id, request.user, ratings=data["ratings"], time_spent_ms=data["time_spent_ms"],
                strength=data["strength"]))
        except workflow.AmendRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self._result(ranking))

    @extend_schema(request=SkipSubmission, responses=SubmitResult)
    @action(detail=True, methods=["post"])
    def skip(self, request, pk=None):
        task = self._submit(request, SkipSubmission, lambda task_id, data: workflow.skip_task(
            task_id, request.user, reason=data["reason"], note=data["note"]))
        return Response({"task": task.pk, "state": TaskState.SKIPPED, "stored_id": None})


class ReviewViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The review queue of a project (`?project=`): rankings waiting for a reviewer, oldest first."""

    serializer_class = RankingForReviewSerializer
    permission_classes = [IsReviewer]
    parser_classes = [BoundedJSONParser]

    def get_queryset(self):
        return Ranking.objects.select_related("prompt", "labeler").prefetch_related("ratings__candidate")

    @extend_schema(parameters=[ReviewQueueRequest])
    def list(self, request):
        query = ReviewQueueRequest(data=request.query_params)
        query.is_valid(raise_exception=True)
        project = query.validated_data["project"]
        queue = Ranking.objects.review_queue(project, request.user)[:50]
        return Response(self.get_serializer(queue, many=True).data)

    @extend_schema(request=ReviewDecision, responses=RankingForReviewSerializer)
    @action(detail=True, methods=["post"])
    def decision(self, request, pk=None):
        body = ReviewDecision(data=request.data)
        body.is_valid(raise_exception=True)
        if not str(pk).isdigit() or int(pk) >= 2**63:
            raise NotFound("no such ranking waiting for review")
        try:
            ranking = workflow.review_ranking(int(pk), request.user, accept=body.validated_data["decision"] == "accept",
                                              reason=body.validated_data["reason"])
        except workflow.ReviewNotFound as exc:
            raise NotFound(str(exc)) from None
        except ModelValidationError as exc:
            raise as_drf_error(exc) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=ranking.pk)).data)


class MeViewSet(viewsets.ViewSet):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["get"])
    def stats(self, request):
        return Response(labeler_stats(request.user))

    @extend_schema(responses=OwnRankingSerializer(many=True))
    @action(detail=False, methods=["get"])
    def rankings(self, request):
        """The caller's own rankings, newest first, with each one's review outcome and reason."""
        own = Ranking.objects.filter(labeler=request.user).order_by("-id")[:200]
        return Response(OwnRankingSerializer(own, many=True).data)
