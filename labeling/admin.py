from django.contrib import admin

from labeling.models import Candidate, CandidateRating, Demonstration, Project, Prompt, Ranking, Task


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "k", "overlap", "write_prompts_enabled", "demonstrations_enabled", "ranking_enabled",
                    "created_at"]
    search_fields = ["name"]


class CandidateInline(admin.TabularInline):
    model = Candidate
    extra = 0
    fields = ["index", "text", "source", "model_name", "model_revision", "seed", "reward"]
    readonly_fields = fields


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "source", "state", "generation_error", "created_at"]
    list_filter = ["project", "state", "kind", "source"]
    search_fields = ["external_id", "use_case"]
    raw_id_fields = ["author"]
    inlines = [CandidateInline]


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "index", "model_name", "reward", "created_at"]
    list_filter = ["prompt__project", "model_name"]
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
