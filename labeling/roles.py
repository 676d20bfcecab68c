"""The two roles, as Django groups. Admins configure projects, import and export, and use the Django
admin for support; labelers label. The admin group is re-synced after every migrate, so permissions
of apps added later reach it without a data migration per app."""
from django.contrib.auth.models import Group, Permission

ADMIN_GROUP, LABELER_GROUP = "admin", "labeler"
ADMIN_APPS = ["labeling", "rewards", "exports", "django_celery_beat", "auth"]


def sync_roles(**kwargs):
    admin, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    admin.permissions.set(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
    Group.objects.get_or_create(name=LABELER_GROUP)
