from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html_join

from intake.models import FILING_STATES, ApiUser, Filing, IntakeRecord


@admin.register(ApiUser)
class ApiUserAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "token_hint", "consent", "prompt_cap", "is_active", "filings", "created_at"]
    list_filter = ["project", "consent", "is_active"]
    readonly_fields = ["token_hint", "filings", "created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_filing_counts()

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        fields = {f: getattr(obj, f) for f in ("name", "project", "consent", "prompt_cap", "is_active")}
        created, token = ApiUser.objects.create_with_token(**fields)
        obj.pk = created.pk
        messages.warning(request, f"The API token of {created.name} is {token} — copy it now: it is not stored "
                                  "and cannot be shown again.")

    @admin.display(description="filings by outcome")
    def filings(self, api_user):
        """Each outcome the user's filings have, with its count, linking to those filings."""
        if api_user.pk is None:
            return "-"
        url = reverse("admin:intake_filing_changelist")
        counts = [(status, getattr(api_user, f"filings_{status}")) for status in FILING_STATES.table]
        return format_html_join(", ", '<a href="{}?api_user={}&amp;status__exact={}">{}: {}</a>',
                                ((url, api_user.pk, status, status.value, n) for status, n in counts if n)) or "none"


@admin.register(Filing)
class FilingAdmin(admin.ModelAdmin):
    """The intake's outbox, one row per call with consent: what became of each prompt. Read only: the
    response path and the filing task write it."""

    list_display = ["id", "api_user", "project", "status", "masked", "created_at", "finished_at", "error"]
    list_filter = ["status", "project"]
    list_select_related = ["api_user", "project"]
    fields = ["api_user", "project", "status", "error", "masked", "messages", "created_at", "finished_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IntakeRecord)
class IntakeRecordAdmin(admin.ModelAdmin):
    list_display = ["prompt", "api_user", "project", "masked", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["api_user", "project", "prompt", "dedup_key", "masked", "created_at"]
