from django.core.management.base import BaseCommand, CommandError

from intake.models import ApiUser
from labeling.models import Project


class Command(BaseCommand):
    help = "Create an API user of /v1/chat/completions for a project and print its token (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--project", required=True, help="Project name.")
        parser.add_argument("--consent", action="store_true", help="The user agreed that their prompts are kept.")
        parser.add_argument("--prompt-cap", type=int, help="At most this many of their prompts are filed.")

    def handle(self, name, project, consent, prompt_cap, **options):
        found = Project.objects.filter(name=project).first()
        if found is None:
            raise CommandError(f"no project named {project!r}")
        extra = {} if prompt_cap is None else {"prompt_cap": prompt_cap}
        _, token = ApiUser.objects.create_with_token(name=name, project=found, consent=consent, **extra)
        self.stdout.write(token)
