import shutil
from pathlib import Path

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from exports.models import ExportJob
from exports.spec import DATASETS, FORMATS, ExportSpec
from labeling.models import Project


def parse_split(text):
    """'train=0.8,validation=0.1,test=0.1' -> {"train": 0.8, ...}"""
    shares = {}
    for part in filter(None, text.split(",")):
        name, _, share = part.partition("=")
        try:
            shares[name.strip()] = float(share)
        except ValueError:
            raise CommandError(f"--split: {part!r} is not name=share") from None
    return shares


class Command(BaseCommand):
    help = ("Export a dataset of a project (as the admin page and the API do, with a status row), showing "
            "a progress bar. The file is also copied to --output if given.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name")
        parser.add_argument("--dataset", required=True, choices=list(DATASETS))
        parser.add_argument("--format", default="jsonl", choices=list(FORMATS))
        parser.add_argument("--output", type=Path, help="Where to copy the finished file")
        parser.add_argument("--since", help="Only records created at or after (ISO 8601)")
        parser.add_argument("--until", help="Only records created before (ISO 8601)")
        parser.add_argument("--kind", action="append", default=[], help="Prompt kind (repeatable)")
        parser.add_argument("--source", action="append", default=[], help="Prompt source (repeatable)")
        parser.add_argument("--labeler", action="append", default=[], help="Labeler username (repeatable)")
        parser.add_argument("--min-agreement", type=float, help="Minimum labeler agreement on the prompt, 0-1")
        parser.add_argument("--exclude-flagged", action="store_true", help="Leave out rankings with any flag")
        parser.add_argument("--exclude-reported", action="store_true", help="Leave out reported prompts")
        parser.add_argument("--accepted-only", action="store_true", help="Only rankings a reviewer accepted")
        parser.add_argument("--include-quarantined", action="store_true",
                            help="Keep rankings of flagged labelers that no reviewer accepted")
        parser.add_argument("--include-gold", action="store_true", help="Keep rankings of gold prompts")
        parser.add_argument("--split", default="", help="Shares of prompts, e.g. train=0.8,validation=0.1,test=0.1")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the split")
        parser.add_argument("--margin", nargs="?", const="likert", default="", choices=["likert", "strength"],
                            help="Pairwise: add a margin column, from the Likert difference (the default) or from the "
                                 "labeler's stated preference strength")
        parser.add_argument("--real-names", action="store_true", help="Write usernames instead of pseudonyms")
        parser.add_argument("--user", help="Username recorded as the job's creator")

    def handle(self, **o):
        project = Project.objects.filter(name=o["project"]).first()
        if project is None:
            raise CommandError(f"--project: no project named {o['project']!r}")
        filters = {"since": o["since"], "until": o["until"], "kinds": o["kind"], "sources": o["source"],
                   "labelers": o["labeler"], "min_agreement": o["min_agreement"],
                   "exclude_flagged": o["exclude_flagged"], "exclude_reported": o["exclude_reported"],
                   "accepted_only": o["accepted_only"], "include_quarantined": o["include_quarantined"],
                   "include_gold": o["include_gold"]}
        try:
            spec = ExportSpec.from_dict({
                "project_id": project.pk, "dataset": o["dataset"], "format": o["format"], "filters": filters,
                "split": parse_split(o["split"]), "seed": o["seed"], "margin": o["margin"],
                "pseudonymize": not o["real_names"]})
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        user = User.objects.filter(username=o["user"]).first() if o["user"] else None
        job = ExportJob.create(spec, user, enqueue=False)
        with tqdm(desc=f"export {job.pk} {spec.dataset}", unit="rows", file=self.stderr._out) as bar:
            def on_progress(done, total):
                bar.total = total
                bar.update(done - bar.n)

            job.run(on_progress)
        path = Path(job.file_path)
        if o["output"]:
            shutil.copyfile(path, o["output"])
            path = o["output"]
        self.stdout.write(f"Export {job.pk}: {job.rows_written} rows -> {path}")
