from django.contrib import admin, messages

from intake.models import ApiUser, IntakeRecord


@admin.register(ApiUser)
class ApiUserAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "token_hint", "consent", "prompt_cap", "is_active", "created_at"]
    list_filter = ["project", "consent", "is_active"]
    readonly_fields = ["token_hint", "created_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        fields = {f: getattr(obj, f) for f in ("name", "project", "consent", "prompt_cap", "is_active")}
        created, token = ApiUser.objects.create_with_token(**fields)
        obj.pk = created.pk
        messages.warning(request, f"The API token of {created.name} is {token} — copy it now: it is not stored "
                                  "and cannot be shown again.")


@admin.register(IntakeRecord)
class IntakeRecordAdmin(admin.ModelAdmin):
    list_display = ["prompt", "api_user", "project", "masked", "created_at"]
    list_filter = ["project"]
    readonly_fields = ["api_user", "project", "prompt", "dedup_key", "masked", "created_at"]
