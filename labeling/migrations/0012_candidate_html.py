from django.db import migrations, models

BATCH = 2_000


def render_existing(apps, schema_editor):
    """Candidates stored before the column: rendered here once, as new ones are when stored."""
    from labeling.rendering import render_markdown

    Candidate = apps.get_model("labeling", "Candidate")
    last = 0
    while batch := list(Candidate.objects.filter(pk__gt=last).order_by("pk").only("pk", "text")[:BATCH]):
        for candidate in batch:
            candidate.html = render_markdown(candidate.text)
        Candidate.objects.bulk_update(batch, ["html"])
        last = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ("labeling", "0011_task_recent_rankings"),
    ]

    operations = [
        migrations.AddField(
            model_name="candidate",
            name="html",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(render_existing, migrations.RunPython.noop),
    ]
