"""REST API for exports and dataset imports, for admins only. Views check the request's shape and call one
model or service function."""
from django.core.exceptions import ValidationError as ModelValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from exports.models import ExportJob, ImportJob
from exports.runner import unsupported_reason
from exports.spec import DATASETS, FORMATS, SPLIT_NAMES, ExportSpec
from labeling.api import IsProjectAdmin, as_drf_error
from labeling.importing import ImportFailed
from labeling.models import Project, PromptKind, PromptSource


class ExportJobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = ["id", "project", "dataset", "format", "options", "status", "rows_total", "rows_written",
                  "progress_percent", "error", "download_url", "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_download_url(self, job) -> str | None:
        if not job.file_path:
            return None
        return self.context["request"].build_absolute_uri(reverse("export-download", args=[job.pk]))


class ExportFilters(serializers.Serializer):
    since = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)
    kinds = serializers.ListField(child=serializers.ChoiceField(choices=PromptKind.choices), required=False)
    sources = serializers.ListField(child=serializers.ChoiceField(choices=PromptSource.choices), required=False)
    labelers = serializers.ListField(child=serializers.CharField(), required=False, help_text="Usernames")
    min_agreement = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True,
                                           help_text="Minimum labeler agreement on the prompt (0-1).")
    exclude_flagged = serializers.BooleanField(required=False, help_text="Leave out rankings with any flag.")
    exclude_reported = serializers.BooleanField(required=False, help_text="Leave out reported prompts.")
    accepted_only = serializers.BooleanField(required=False, help_text="Only rankings a reviewer accepted.")
    include_quarantined = serializers.BooleanField(
        required=False, help_text="Keep rankings of flagged labelers that no reviewer accepted (left out by default).")
    include_gold = serializers.BooleanField(required=False,
                                            help_text="Keep rankings of gold prompts (left out by default).")


class ExportRequest(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    dataset = serializers.ChoiceField(choices=list(DATASETS.items()))
    format = serializers.ChoiceField(choices=list(FORMATS.items()), default="jsonl")
    filters = ExportFilters(required=False)
    split = serializers.DictField(child=serializers.FloatField(min_value=0), required=False,
                                  help_text=f"Shares of prompts for {', '.join(SPLIT_NAMES)}, adding up to 1.")
    seed = serializers.IntegerField(default=0, help_text="Seed of the split.")
    margin = serializers.JSONField(
        default=False, help_text='Pairwise: add a margin column: "likert" (or true) for the Likert difference, '
                                 '"strength" for the labeler\'s stated preference strength (Llama 2 margins).')
    pseudonymize = serializers.BooleanField(default=True, help_text="Replace labeler names by keyed hashes.")

    def validate(self, data):
        # The one spec parser that the admin, the command and the task also use has the last word; filters
        # and split are passed as sent (dates as strings), and its errors name the field.
        raw = {"project_id": data["project"].pk, "filters": self.initial_data.get("filters") or {},
               "split": self.initial_data.get("split") or {}}
        raw.update({key: data[key] for key in ("dataset", "format", "seed", "margin", "pseudonymize")})
        try:
            data["spec"] = ExportSpec.from_dict(raw)
        except ModelValidationError as exc:
            raise as_drf_error(exc) from None
        return data


class ExportJobViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    """Export jobs: create one (it runs on the worker) and poll its status until download_url is set."""

    queryset = ExportJob.objects.all()
    serializer_class = ExportJobSerializer
    permission_classes = [IsProjectAdmin]

    @extend_schema(request=ExportRequest, responses={201: ExportJobSerializer})
    def create(self, request, *args, **kwargs):
        reason = unsupported_reason()
        if reason:  # say so now, rather than fail the job after it waited in the queue
            raise ValidationError({"database": [reason]})
        body = ExportRequest(data=request.data)
        body.is_valid(raise_exception=True)
        job = ExportJob.create(body.validated_data["spec"], request.user)
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)


class DatasetImportRequest(serializers.Serializer):
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all())
    file = serializers.FileField(help_text="JSONL, .jsonl.gz, Parquet, CSV, or an export .tar")


class ImportJobSerializer(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImportJob
        fields = ["id", "project", "filename", "status", "prompts_total", "prompts_done", "progress_percent",
                  "rankings", "errors", "error", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


def start_import(request, project, upload):
    """Check the upload line by line now (a 400 naming each bad line, nothing kept) and store it on a worker."""
    try:
        job = ImportJob.create(project, request.user, upload)
    except ImportFailed as exc:
        raise ValidationError({"file": [f"line {n}: {reason}" for n, reason in exc.errors[:1000]]}) from None
    return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": reverse("import-detail", args=[job.pk])})


IMPORT_RESPONSES = {202: ImportJobSerializer,
                    400: OpenApiResponse(description="The field, or the file's line numbers and reasons")}


class DatasetImportView(APIView):
    """Import prompts, pairwise comparisons or grouped rankings into a project, all or nothing. The file is
    checked at once; a worker stores it, and GET /api/imports/{id}/ follows its progress."""

    permission_classes = [IsProjectAdmin]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": DatasetImportRequest}, responses=IMPORT_RESPONSES)
    def post(self, request):
        body = DatasetImportRequest(data=request.data)
        body.is_valid(raise_exception=True)
        return start_import(request, body.validated_data["project"], body.validated_data["file"])


class ProjectImportRequest(serializers.Serializer):
    file = serializers.FileField(help_text="JSONL or CSV; see the README for the line format.")


class ProjectImportView(APIView):
    """Import prompts (optionally with candidates) into this project: DatasetImportView for one project."""

    permission_classes = [IsProjectAdmin]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(request={"multipart/form-data": ProjectImportRequest}, responses=IMPORT_RESPONSES)
    def post(self, request, project_id):
        project = get_object_or_404(Project, pk=project_id)
        body = ProjectImportRequest(data=request.data)
        body.is_valid(raise_exception=True)
        return start_import(request, project, body.validated_data["file"])


class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Import jobs and their progress; a failed one lists its bad lines."""

    queryset = ImportJob.objects.all()
    serializer_class = ImportJobSerializer
    permission_classes = [IsProjectAdmin]
