from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from exports.models import ExportJob, ExportStatus
from exports.spec import ExportSpec


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
        return request.user.has_perm("labeling.manage_project")

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
