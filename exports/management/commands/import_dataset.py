from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from exports.importing import import_file
from labeling.importing import ImportFailed
from labeling.models import Project


class Command(BaseCommand):
    help = ("Import prompts, pairwise comparisons or grouped rankings into a project from JSONL, gzipped JSONL, "
            "Parquet, a Hugging Face datasets folder or an export .tar. All or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--project", required=True, help="Project name")

    def handle(self, path, project, **options):
        target = Project.objects.filter(name=project).first()
        if target is None:
            raise CommandError(f"--project: no project named {project!r}")
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder")
        try:
            result = import_file(target, path)
        except ImportFailed as exc:
            raise CommandError("nothing imported:\n" + "\n".join(f"  line {n}: {r}" for n, r in exc.errors)) from None
        self.stdout.write(f"Imported {result.prompts} prompts and {result.rankings} rankings into {target.name}")
