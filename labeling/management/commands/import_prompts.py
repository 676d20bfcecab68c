from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from labeling.importing import ImportFailed, import_prompts
from labeling.models import Project


class Command(BaseCommand):
    help = "Import prompts (optionally with candidates) from a JSONL or CSV file into a project. All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="Project name")

    def handle(self, path, project, **options):
        try:
            target = Project.objects.get(name=project)
        except Project.DoesNotExist:
            raise CommandError(f"--project: no project named {project!r}") from None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: {exc}") from None
        try:
            prompts = import_prompts(target, text, path.name)
        except ImportFailed as exc:
            raise CommandError("nothing imported:\n" + "\n".join(f"  line {n}: {r}" for n, r in exc.errors)) from None
        self.stdout.write(f"Imported {len(prompts)} prompts into {target.name}")
