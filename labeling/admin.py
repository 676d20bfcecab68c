from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q

from labeling import generator_settings, limits, workflow
from labeling.models import (
    Candidate, CandidateRating, Demonstration, GoldRanking, GoldSource, LabelerQuality, Project, Prompt,
    PromptAgreement, Ranking, ReviewCause, ReviewStatus, Task,
)


class ProjectForm(forms.ModelForm):
    """Generator API keys are write-only: the settings are shown without them (a listed generator's too),
    and a single generator's new key is typed into a password field that never shows the stored one.
    Project.clean checks the settings as generation reads them."""

    api_key = forms.CharField(
        label="Generator API key", required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored key. With a generators list, put each "
        "generator's key in its entry (\"api_key\"); left out, the stored one is kept.")
    clear_api_key = forms.BooleanField(label="Remove the stored API keys", required=False)

    class Meta:
        model = Project
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["generation"] = generator_settings.without_secrets(self.instance.generation)
        holders = generator_settings.generators_with_secrets(self.instance.generation)
        if holders:
            self.fields["api_key"].help_text = (f"Write-only; a key is stored for: {', '.join(holders)}. "
                                                "Leave empty to keep it.")

    def clean_use_cases(self):
        return limits.check_use_cases(self.cleaned_data["use_cases"])

    def clean_generation(self):
        edited = limits.check_settings_object(self.cleaned_data["generation"] or {})
        return generator_settings.merge_secrets(self.instance.generation, edited)

    def clean(self):
        data = super().clean()
        generation = data.get("generation")
        if generation is not None:
            if data.get("clear_api_key"):
                generation = generator_settings.without_secrets(generation)
            elif data.get("api_key"):
                if "generators" in generation:
                    self.add_error("api_key", "With a generators list, each generator's key goes in its entry "
                                              "of the generator settings.")
                else:
                    generation = {**generation, "api_key": data["api_key"]}
            data["generation"] = generation
        return data


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ["name", "k", "overlap", "write_prompts_enabled", "demonstrations_enabled", "ranking_enabled",
                    "created_at"]
    search_fields = ["name"]
    change_form_template = "admin/labeling/project/change_form.html"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        workflow.rank_order_saved(obj, changed="rank_order" in form.changed_data)


class CandidateInline(admin.TabularInline):
    model = Candidate
    extra = 0
    fields = ["index", "text", "source", "generator", "model_name", "model_revision", "seed", "reward"]
    readonly_fields = fields


# --- The data explorer: prompts, candidates and rankings by labeler, state, agreement and review status -----

def agreement_bands(prefix=""):
    """{key: (label, condition)} on a prompt's stored pairwise agreement; `prefix` leads from the listed model
    to the prompt ("prompt__" on rankings)."""
    compared = Q(**{f"{prefix}agreement__pairs__gt": 0})

    def at_least(share):
        return Q(**{f"{prefix}agreement__agreeing_pairs__gte": F(f"{prefix}agreement__pairs") * share})

    return {
        "none": ("Not compared yet", ~compared),
        "low": ("Below 0.5", compared & ~at_least(0.5)),
        "mid": ("0.5 to 0.8", compared & at_least(0.5) & ~at_least(0.8)),
        "high": ("0.8 or more", compared & at_least(0.8)),
        "contentious": ("Contentious", Q(**{f"{prefix}agreement__contentious": True})),
    }


class AgreementFilter(admin.SimpleListFilter):
    """The stored pairwise agreement of the prompt (of the ranking's prompt, on rankings)."""

    title = "agreement"
    parameter_name = "agreement"
    prefix = ""

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in agreement_bands().items()]

    def queryset(self, request, queryset):
        bands = agreement_bands(self.prefix)
        return queryset.filter(bands[self.value()][1]) if self.value() in bands else queryset


class RankingAgreementFilter(AgreementFilter):
    prefix = "prompt__"


class GoldFilter(admin.SimpleListFilter):
    title = "gold"
    parameter_name = "gold"
    prefix = ""

    def lookups(self, request, model_admin):
        return [("yes", "Gold prompts"), ("no", "Other prompts")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.prefix}gold__isnull": self.value() == "no"})
        return queryset


class RankingGoldFilter(GoldFilter):
    prefix = "prompt__"


def agreement_of(prompt):
    try:
        agreement = prompt.agreement.agreement
    except PromptAgreement.DoesNotExist:
        return "–"
    return "–" if agreement is None else f"{agreement:.2f}"


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "excerpt", "kind", "source", "state", "generation_error", "agreement", "is_gold",
                    "created_at"]
    list_filter = ["project", "state", AgreementFilter, GoldFilter, "kind", "source"]
    list_select_related = ["project", "agreement", "gold"]
    search_fields = ["external_id", "use_case", "messages"]
    raw_id_fields = ["author"]
    inlines = [CandidateInline]
    actions = ["retry_generation"]

    @admin.action(description="Retry candidate generation of the selected prompts")
    def retry_generation(self, request, queryset):
        retried = sum(workflow.retry_generation(prompt) for prompt in queryset)
        self.message_user(request, f"Queued {retried} prompt(s) for generation; prompts not waiting for "
                                   "candidates were left alone.")


    @admin.display(description="Prompt")
    def excerpt(self, prompt):
        return prompt.text[:100]

    @admin.display(description="Agreement")
    def agreement(self, prompt):
        return agreement_of(prompt)

    @admin.display(description="Gold", boolean=True)
    def is_gold(self, prompt):
        return hasattr(prompt, "gold")


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "index", "generator", "model_name", "reward", "created_at"]
    list_filter = ["prompt__project", "generator", "model_name"]
    list_select_related = ["prompt"]
    search_fields = ["text", "model_name"]
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
    """Rankings by project, labeler, review status and cause, the prompt's agreement and gold. The review
    fields are read-only here: they change through the review queue (labeling.workflow.review_ranking)."""

    list_display = ["id", "prompt", "labeler", "review_status", "review_cause", "agreement", "time_spent_ms",
                    "created_at"]
    list_filter = ["prompt__project", "review_status", "review_cause", RankingAgreementFilter, RankingGoldFilter]
    list_select_related = ["prompt__agreement", "labeler"]
    search_fields = ["labeler__username", "prompt__external_id", "review_reason", "prompt__messages"]
    raw_id_fields = ["prompt", "labeler", "task"]
    readonly_fields = ["review_status", "review_cause", "queued_for_review_at", "review_reason", "reviewed_by",
                       "reviewed_at"]
    inlines = [CandidateRatingInline]
    actions = ["queue_for_review", "make_gold"]

    @admin.display(description="Prompt agreement")
    def agreement(self, ranking):
        return agreement_of(ranking.prompt)

    @admin.action(description="Make each accepted ranking its prompt's gold reference")
    def make_gold(self, request, queryset):
        accepted = list(queryset.filter(review_status=ReviewStatus.ACCEPTED).select_related("prompt"))
        for ranking in accepted:
            workflow.gold_from_ranking(ranking, source=GoldSource.REVIEW)
        self.message_user(request, f"{len(accepted)} prompt(s) are gold now; rankings no reviewer accepted were "
                                   "left alone.")

    @admin.action(description="Put the selected rankings in the review queue")
    def queue_for_review(self, request, queryset):
        queued = workflow.queue_for_review(queryset, ReviewCause.SAMPLE)
        self.message_user(request, f"Queued {queued} ranking(s); rankings already queued or reviewed were left alone.")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "state", "labeler", "prompt", "expires_at", "finished_at", "skip_reason"]
    list_filter = ["project", "kind", "state", "skip_reason"]
    search_fields = ["labeler__username"]
    raw_id_fields = ["prompt", "labeler", "written_prompt"]


class GoldRankingForm(forms.ModelForm):
    tiers = forms.CharField(label="Reference ranking", help_text="One tier per candidate in candidate index order, "
                            "comma-separated: 1 is best, equal tiers are ties (for example 1, 2, 2).")

    class Meta:
        model = GoldRanking
        fields = ["prompt"]

    def clean(self):
        data = super().clean()
        prompt, raw = data.get("prompt"), data.get("tiers")
        if prompt is None or raw is None:
            return data
        try:
            data["reference"] = [int(part) for part in raw.split(",")]
        except ValueError:
            raise forms.ValidationError({"tiers": "give whole numbers separated by commas"}) from None
        # The workflow's own check, run without storing anything: the form shows its message on the field.
        try:
            with transaction.atomic():
                workflow.mark_gold(prompt, data["reference"], field="tiers")
                transaction.set_rollback(True)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict) from None
        return data


@admin.register(GoldRanking)
class GoldRankingAdmin(admin.ModelAdmin):
    """Admins mark a prompt as gold here, with its reference ranking; gold prompts leave the pool and are
    mixed into every labeler's queue at the project's gold rate."""

    form = GoldRankingForm
    list_display = ["prompt", "project", "source", "reference", "created_at"]
    list_filter = ["project", "source"]
    raw_id_fields = ["prompt"]

    def get_readonly_fields(self, request, obj=None):
        return ["prompt", "project", "source", "reference"] if obj else []

    def get_fields(self, request, obj=None):
        return ["prompt", "project", "source", "reference"] if obj else ["prompt", "tiers"]

    def save_model(self, request, obj, form, change):
        if not change:
            gold = workflow.mark_gold(form.cleaned_data["prompt"], form.cleaned_data["reference"])
            obj.pk, obj.project_id, obj.reference = gold.pk, gold.project_id, gold.reference


def share(value):
    return "–" if value is None else f"{value:.2f}"


@admin.register(LabelerQuality)
class LabelerQualityAdmin(admin.ModelAdmin):
    """Each labeler's standing in a project. The figures are kept by the workflow and read only here; an
    admin clears a flag, restarts a qualification or lets a labeler through with the actions."""

    list_display = ["labeler", "project", "rankings", "peer", "gold", "position", "length", "qualification",
                    "flagged_at", "flag_reasons"]
    list_filter = ["project", "qualification", ("flagged_at", admin.EmptyFieldListFilter)]
    search_fields = ["labeler__username"]
    actions = ["clear_flags", "reset_qualifications", "let_through"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Peer agreement")
    def peer(self, standing):
        return share(standing.peer_agreement)

    @admin.display(description="Gold accuracy")
    def gold(self, standing):
        return share(standing.gold_accuracy)

    @admin.display(description="Position bias")
    def position(self, standing):
        return share(standing.position_bias)

    @admin.display(description="Length bias")
    def length(self, standing):
        return share(standing.length_bias)

    @admin.action(description="Clear the flag (their rankings leave quarantine; the rules stop flagging them)")
    def clear_flags(self, request, queryset):
        for standing in queryset.flagged():
            workflow.clear_flag(standing, request.user)
        self.message_user(request, "Cleared.")

    @admin.action(description="Restart the qualification")
    def reset_qualifications(self, request, queryset):
        for standing in queryset:
            workflow.reset_qualification(standing)
        self.message_user(request, "The selected labelers qualify again on gold prompts they have not had.")

    @admin.action(description="Let through without the qualification")
    def let_through(self, request, queryset):
        for standing in queryset.select_related("project", "labeler"):
            workflow.override_qualification(standing.project, standing.labeler)
        self.message_user(request, "The selected labelers get real tasks.")
