"""The roles, as Django groups. Admins configure projects, import and export, and use the Django admin
for support; labelers label; reviewers accept or reject submitted rankings (and nothing else). The groups
are re-synced after every migrate, so permissions of apps added later reach the admin group without a
data migration per app."""
from django.contrib.auth.models import Group, Permission

ADMIN_GROUP, LABELER_GROUP, REVIEWER_GROUP = "admin", "labeler", "reviewer"
ADMIN_APPS = ["labeling", "rewards", "exports", "intake", "django_celery_beat", "auth"]
REVIEW_PERMISSION = "labeling.review_ranking"


def sync_roles(**kwargs):
    admin, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    admin.permissions.set(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
    Group.objects.get_or_create(name=LABELER_GROUP)
    reviewer, _ = Group.objects.get_or_create(name=REVIEWER_GROUP)
    app_label, codename = REVIEW_PERMISSION.split(".")
    reviewer.permissions.set(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
