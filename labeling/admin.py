from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from labeling import workflow
from labeling.importing import ImportFailed, import_prompts
from labeling.models import Candidate, CandidateRating, Demonstration, Project, Prompt, Ranking, Task


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL or CSV: one prompt per line, optionally with its K candidates.")


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "k", "overlap", "write_prompts_enabled", "demonstrations_enabled", "ranking_enabled",
                    "created_at"]
    search_fields = ["name"]
    change_form_template = "admin/labeling/project/change_form.html"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        workflow.set_rank_priorities(obj)

    def get_urls(self):
        return [path("<int:project_id>/import/", self.admin_site.admin_view(self.import_view),
                     name="labeling_project_import")] + super().get_urls()

    def import_view(self, request, project_id):
        project = get_object_or_404(Project, pk=project_id)
        if not request.user.has_perm("labeling.manage_project"):
            messages.error(request, "Only admins can import prompts.")
            return redirect("admin:index")
        form = ImportForm(request.POST or None, request.FILES or None)
        errors = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                prompts = import_prompts(project, upload.read().decode("utf-8"), upload.name)
            except UnicodeDecodeError:
                form.add_error("file", "The file is not UTF-8 text.")
            except ImportFailed as exc:
                errors = exc.errors
                form.add_error("file", f"Nothing was imported: {len(errors)} bad line(s).")
            else:
                messages.success(request, f"Imported {len(prompts)} prompts into {project.name}.")
                return redirect("admin:labeling_project_change", project.pk)
        context = {**self.admin_site.each_context(request), "project": project, "form": form, "errors": errors,
                   "opts": self.model._meta, "title": f"Import prompts into {project.name}"}
        return render(request, "admin/labeling/project/import.html", context)


class CandidateInline(admin.TabularInline):
    model = Candidate
    extra = 0
    fields = ["index", "text", "source", "generator", "model_name", "model_revision", "seed", "reward"]
    readonly_fields = fields


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "source", "state", "generation_error", "created_at"]
    list_filter = ["project", "state", "kind", "source"]
    search_fields = ["external_id", "use_case"]
    raw_id_fields = ["author"]
    inlines = [CandidateInline]
    actions = ["retry_generation"]

    @admin.action(description="Retry candidate generation of the selected prompts")
    def retry_generation(self, request, queryset):
        retried = sum(workflow.retry_generation(prompt) for prompt in queryset)
        self.message_user(request, f"Queued {retried} prompt(s) for generation; prompts not waiting for "
                                   "candidates were left alone.")


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "index", "generator", "model_name", "reward", "created_at"]
    list_filter = ["prompt__project", "generator", "model_name"]
    raw_id_fields = ["prompt"]


@admin.register(Demonstration)
class DemonstrationAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "author", "time_spent_ms", "created_at"]
    list_filter = ["prompt__project"]
    raw_id_fields = ["prompt", "author", "task"]


class CandidateRatingInline(admin.TabularInline):
    model = CandidateRating
    extra = 0
    raw_id_fields = ["candidate"]


@admin.register(Ranking)
class RankingAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "labeler", "time_spent_ms", "created_at"]
    list_filter = ["prompt__project"]
    raw_id_fields = ["prompt", "labeler", "task"]
    inlines = [CandidateRatingInline]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "state", "labeler", "prompt", "expires_at", "finished_at", "skip_reason"]
    list_filter = ["project", "kind", "state", "skip_reason"]
    raw_id_fields = ["prompt", "labeler", "written_prompt"]
