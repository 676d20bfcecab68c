"""The retraining schedule as django-celery-beat rows, created once so that the admin's edits (in
Periodic tasks) are kept: settings-based beat entries would be re-synced over them at every start."""
import json

from django.db import migrations

NIGHTLY = "Retrain reward models (nightly)"
THRESHOLD_CHECK = "Retrain reward models after N new comparisons (check)"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    nightly, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="3", day_of_week="*", day_of_month="*",
                                                       month_of_year="*", timezone="UTC")
    every_five_minutes, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    # expires: after downtime, beat's backlog must not start the same check many times over.
    PeriodicTask.objects.get_or_create(name=NIGHTLY, defaults={
        "task": "rewards.scheduled_retraining", "crontab": nightly, "queue": "training",
        "expire_seconds": 3600, "kwargs": json.dumps({}),
        "description": "Trains a new reward-model version for every project with new comparisons.",
    })
    PeriodicTask.objects.get_or_create(name=THRESHOLD_CHECK, defaults={
        "task": "rewards.check_retraining", "interval": every_five_minutes, "queue": "training",
        "expire_seconds": 240, "kwargs": json.dumps({}),
        "description": "Trains as soon as a project has its 'retrain after comparisons' number of new ones.",
    })


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[NIGHTLY, THRESHOLD_CHECK]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
