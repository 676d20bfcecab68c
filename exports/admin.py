from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html

from exports.models import ExportJob, ExportStatus, ImportJob
from exports.runner import unsupported_reason
from exports.spec import ExportSpec
from labeling.importing import ImportFailed
from labeling.models import Project


class ExportJobForm(forms.ModelForm):
    class Meta:
        model = ExportJob
        fields = ["project", "dataset", "format", "options"]
        help_texts = {"options": 'Optional: {"filters": {"since": "2025-01-01T00:00:00Z", "kinds": ["plain"], '
                                 '"labelers": [], "min_agreement": 0.6, "exclude_flagged": true, '
                                 '"exclude_reported": true}, "split": {"train": 0.8, "validation": 0.1, '
                                 '"test": 0.1}, "seed": 0, "margin": false, "pseudonymize": true}'}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        options = dict(data.get("options") or {})
        options.update(project_id=data["project"].pk, dataset=data["dataset"], format=data["format"])
        try:
            self.spec = ExportSpec.from_dict(options)
        except ValidationError as exc:
            raise ValidationError({"options": [f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()]})
        return data


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Admins start an export with "Add", then watch its progress here; the list reloads while a job runs."""

    form = ExportJobForm
    change_list_template = "exports/admin/change_list.html"
    list_display = ["id", "project", "dataset", "format", "status", "progress", "rows_written", "created_by",
                    "created_at", "download"]
    list_filter = ["status", "dataset", "format", "project"]
    readonly_fields = ["status", "progress", "rows_total", "rows_written", "error", "download", "created_by",
                       "created_at", "started_at", "finished_at"]

    def has_add_permission(self, request):
        return request.user.has_perm("labeling.manage_project") and unsupported_reason() is None

    def has_change_permission(self, request, obj=None):
        return False  # a job is a record of what ran; start a new one instead

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("labeling.manage_project")

    def has_module_permission(self, request):
        return request.user.has_perm("labeling.manage_project")

    def save_model(self, request, obj, form, change):
        job = ExportJob.create(form.spec, request.user)
        obj.pk = job.pk  # so the admin's "added" message links to the job just queued

    def changelist_view(self, request, extra_context=None):
        reason = unsupported_reason()
        if reason:
            messages.warning(request, reason)
        running = ExportJob.objects.filter(status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]).exists()
        return super().changelist_view(request, {**(extra_context or {}), "exports_running": running})

    @admin.display(description="progress")
    def progress(self, job):
        return format_html('<progress max="100" value="{}"></progress> {}%', job.progress_percent,
                           job.progress_percent)

    @admin.display(description="file")
    def download(self, job):
        if job.status != ExportStatus.SUCCEEDED:
            return job.error[:200] if job.status == ExportStatus.FAILED else "-"
        return format_html('<a href="{}">{}</a>', reverse("export-download", args=[job.pk]), job.filename)


class ImportForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("name"))
    file = forms.FileField(help_text="JSONL (.gz), CSV, Parquet or an export .tar: prompts, optionally with "
                                     "candidates, pairwise comparisons or grouped rankings. All or nothing.")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """"Add" uploads a file: it is checked line by line at once (bad lines are listed, nothing is kept), then a
    worker stores it while this list shows its progress."""

    change_list_template = "exports/admin/change_list.html"
    list_display = ["id", "project", "filename", "status", "progress", "prompts_done", "rankings", "created_by",
                    "created_at", "outcome"]
    list_filter = ["status", "project"]
    readonly_fields = ["project", "filename", "status", "progress", "prompts_total", "prompts_done", "rankings",
                       "errors", "error", "created_by", "created_at", "started_at", "finished_at"]
    exclude = ["file_path"]

    def has_add_permission(self, request):
        return request.user.has_perm("labeling.manage_project")

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("labeling.manage_project")

    def has_module_permission(self, request):
        return request.user.has_perm("labeling.manage_project")

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None, initial={"project": request.GET.get("project")})
        errors = []
        if request.method == "POST" and form.is_valid():
            try:
                job = ImportJob.create(form.cleaned_data["project"], request.user, form.cleaned_data["file"])
            except ImportFailed as exc:
                errors = exc.errors[:1000]
                form.add_error("file", f"Nothing was imported: {len(exc.errors)} bad line(s).")
            else:
                messages.success(request, f"{job.filename}: {job.prompts_total} prompts checked; a worker is storing "
                                          "them.")
                return redirect("admin:exports_importjob_changelist")
        context = {**self.admin_site.each_context(request), "form": form, "errors": errors, "opts": self.model._meta,
                   "title": "Import a file"}
        return render(request, "exports/admin/import.html", context)

    def changelist_view(self, request, extra_context=None):
        running = ImportJob.objects.filter(status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING]).exists()
        return super().changelist_view(request, {**(extra_context or {}), "exports_running": running})

    @admin.display(description="progress")
    def progress(self, job):
        return format_html('<progress max="100" value="{}"></progress> {}%', job.progress_percent,
                           job.progress_percent)

    @admin.display(description="outcome")
    def outcome(self, job):
        if job.status != ExportStatus.FAILED:
            return "-"
        return "; ".join(f"line {line}: {reason}" for line, reason in job.errors[:5]) or job.error[:200]
