"""0002 put the retraining tasks on the `training` queue, where they waited behind training runs that take
hours; settings and the README route them to `default`. Rows an admin moved elsewhere are left alone."""
from django.db import migrations

TASKS = ["rewards.scheduled_retraining", "rewards.check_retraining"]


def to_default_queue(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=TASKS, queue="training").update(queue="default")


def to_training_queue(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=TASKS, queue="default").update(queue="training")


class Migration(migrations.Migration):
    dependencies = [("rewards", "0003_reward_model_promotion")]

    operations = [migrations.RunPython(to_default_queue, to_training_queue)]
