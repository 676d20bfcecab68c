"""Admin-only API of the reward model: request a training run, follow it, list versions, promote and
roll back. Views check input with serializers and call one model method."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from labeling.api import IsProjectAdmin
from labeling.models import Project
from labeling.stats import project_progress
from rewards.data import comparison_counts
from rewards.models import RewardModel, TrainingAlreadyActive, TrainingRun, Trigger


class TrainingRunSerializer(serializers.ModelSerializer):
    percent = serializers.FloatField(read_only=True)
    reward_model = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = ["id", "project", "status", "trigger", "hyperparameters", "step", "total_steps", "percent",
                  "loss_history", "log", "error", "comparisons", "data_fingerprint", "celery_task_id",
                  "reward_model", "created_at", "started_at", "finished_at"]

    def get_reward_model(self, run) -> int | None:
        version = getattr(run, "reward_model", None)
        return version.version if version else None


class RewardModelSerializer(serializers.ModelSerializer):
    validation_accuracy = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = RewardModel
        fields = ["id", "version", "is_current", "promoted_at", "promotion", "validation_accuracy", "metrics", "comparisons",
                  "prompts", "data_fingerprint", "backbone", "hyperparameters", "validation_prompt_ids",
                  "checkpoint_path", "run", "created_at"]


class TrainingRequest(serializers.Serializer):
    """Optional overrides of the training defaults; everything else comes from RewardConfig."""

    max_steps = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    epochs = serializers.FloatField(min_value=0.01, max_value=100, required=False)
    learning_rate = serializers.FloatField(min_value=1e-8, max_value=1.0, required=False)
    weight_decay = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    warmup_steps = serializers.IntegerField(min_value=0, required=False)
    groups_per_step = serializers.IntegerField(min_value=1, max_value=1024, required=False)
    max_length = serializers.IntegerField(min_value=8, max_value=8192, required=False)
    eval_every = serializers.IntegerField(min_value=1, required=False)
    early_stopping_patience = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    seed = serializers.IntegerField(min_value=0, required=False)
    validation_fraction = serializers.FloatField(min_value=0.0, max_value=0.9, required=False)
    # Which rankings the run learns from (labeling's Ranking.objects.usable_for_training; rewards.data).
    accepted_only = serializers.BooleanField(required=False, help_text="Only rankings a reviewer accepted.")
    include_quarantined = serializers.BooleanField(
        required=False, help_text="Keep rankings of flagged labelers that no reviewer accepted (left out by default).")
    include_gold = serializers.BooleanField(required=False,
                                            help_text="Keep rankings of gold prompts (left out by default).")
    min_agreement = serializers.FloatField(min_value=0.0, max_value=1.0, required=False,
                                           help_text="Only prompts whose labelers agree at least this much (0-1).")

    def validate(self, data):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: "is not a training setting" for name in sorted(unknown)})
        return data


def _project(project_id):
    return get_object_or_404(Project, pk=project_id)


def _runs(project):
    return TrainingRun.objects.filter(project=project).select_related("reward_model")


@extend_schema(methods=["GET"], responses=TrainingRunSerializer(many=True), summary="List training runs")
@extend_schema(
    methods=["POST"], request=TrainingRequest, summary="Request a training run",
    responses={202: TrainingRunSerializer, 400: OpenApiResponse(description="A setting is invalid (named)"),
               409: OpenApiResponse(description="A run of this project is already queued or running")},
)
@api_view(["GET", "POST"])
@permission_classes([IsProjectAdmin])
def training_runs(request, project_id):
    project = _project(project_id)
    if request.method == "GET":
        return Response(TrainingRunSerializer(_runs(project)[:100], many=True).data)
    body = TrainingRequest(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        run = TrainingRun.objects.request(project, trigger=Trigger.MANUAL, hyperparameters=body.validated_data,
                                          requested_by=request.user)
    except TrainingAlreadyActive as exc:
        return Response({"detail": str(exc), "run": TrainingRunSerializer(exc.run).data},
                        status=status.HTTP_409_CONFLICT)
    return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses=TrainingRunSerializer, summary="One training run, with its progress and loss curve")
@api_view(["GET"])
@permission_classes([IsProjectAdmin])
def training_run(request, project_id, run_id):
    return Response(TrainingRunSerializer(get_object_or_404(_runs(_project(project_id)), pk=run_id)).data)


@extend_schema(responses=RewardModelSerializer(many=True), summary="List reward-model versions")
@api_view(["GET"])
@permission_classes([IsProjectAdmin])
def reward_models(request, project_id):
    return Response(RewardModelSerializer(RewardModel.objects.filter(project=_project(project_id)), many=True).data)


@extend_schema(request=None, responses={200: RewardModelSerializer}, summary="Make a version current")
@api_view(["POST"])
@permission_classes([IsProjectAdmin])
def promote(request, project_id, version):
    reward_model = get_object_or_404(RewardModel, project=_project(project_id), version=version)
    reward_model.promote()
    reward_model.refresh_from_db()
    return Response(RewardModelSerializer(reward_model).data)


@extend_schema(request=None, summary="Make the previously promoted version current again",
               responses={200: RewardModelSerializer,
                          409: OpenApiResponse(description="No version was promoted before the current one")})
@api_view(["POST"])
@permission_classes([IsProjectAdmin])
def roll_back(request, project_id):
    restored = RewardModel.roll_back(_project(project_id))
    if restored is None:
        return Response({"detail": "there is no earlier promoted version to roll back to"},
                        status=status.HTTP_409_CONFLICT)
    restored.refresh_from_db()
    return Response(RewardModelSerializer(restored).data)


@extend_schema(
    summary="Everything the dashboard shows",
    responses=inline_serializer("RewardDashboard", {
        "progress": serializers.DictField(),
        "agreement": serializers.DictField(),
        "runs": TrainingRunSerializer(many=True),
        "versions": RewardModelSerializer(many=True),
    }),
)
@api_view(["GET"])
@permission_classes([IsProjectAdmin])
def dashboard_data(request, project_id):
    project = _project(project_id)
    return Response({
        "progress": project_progress(project),
        "agreement": comparison_counts(project),
        "runs": TrainingRunSerializer(_runs(project)[:20], many=True).data,
        "versions": RewardModelSerializer(RewardModel.objects.filter(project=project), many=True).data,
    })
