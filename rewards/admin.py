from django.contrib import admin, messages

from labeling.models import Project
from rewards.models import RewardModel, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "trigger", "step", "total_steps", "comparisons", "created_at",
                    "finished_at"]
    list_filter = ["status", "trigger", "project"]
    # Progress and outcome are written by the task only; an edited status would bypass the transitions.
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    actions = ["mark_failed"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Mark as failed (its worker is gone)")
    def mark_failed(self, request, queryset):
        failed = sum(run.fail(f"marked failed by {request.user.get_username()}") for run in queryset)
        self.message_user(request, f"{failed} run(s) marked failed.")


@admin.register(RewardModel)
class RewardModelAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "is_current", "accuracy", "comparisons", "prompts", "created_at"]
    list_filter = ["project", "is_current"]
    readonly_fields = [f.name for f in RewardModel._meta.fields]
    actions = ["promote", "roll_back"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="validation accuracy")
    def accuracy(self, obj):
        value = obj.validation_accuracy
        return "–" if value is None else f"{value:.3f}"

    @admin.action(description="Make the selected version current")
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to make current.", messages.ERROR)
            return
        version = queryset.get()
        version.promote()
        self.message_user(request, f"{version} is current; its scores for the candidates are being computed.")

    @admin.action(description="Roll back the selected versions' projects to the previously promoted version")
    def roll_back(self, request, queryset):
        for project in Project.objects.filter(pk__in=queryset.values("project_id")):
            restored = RewardModel.roll_back(project)
            if restored is None:
                self.message_user(request, f"{project}: no earlier promoted version.", messages.WARNING)
            else:
                self.message_user(request, f"{project}: v{restored.version} is current again.")

