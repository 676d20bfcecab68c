"""Train a reward model from the command line, with a progress bar, and print its metrics.

    manage.py train_reward_model --project "My project" [--max-steps 200]
    manage.py train_reward_model --from-jsonl ../shared/data/hh_harmless_pairs.jsonl [--output DIR]

With --project the run is recorded (status row, version, promotion) exactly as a queued one would be;
with --from-jsonl it trains on a file of pairs or K-wise rankings outside any project."""
import json
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labeling.models import Project
from rewards.models import RunStatus, TrainingAlreadyActive, TrainingRun, Trigger
from rewards.pipeline import execute, train_from_jsonl

SETTINGS = [
    ("--max-steps", "max_steps", int), ("--epochs", "epochs", float), ("--learning-rate", "learning_rate", float),
    ("--groups-per-step", "groups_per_step", int), ("--max-length", "max_length", int),
    ("--eval-every", "eval_every", int), ("--seed", "seed", int),
    ("--validation-fraction", "validation_fraction", float),
]


class Command(BaseCommand):
    help = "Train a reward-model version of a project (or from a JSONL file) and print its metrics."

    def add_arguments(self, parser):
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--project", help="Project name: train on its rankings and record a version.")
        source.add_argument("--from-jsonl", help="JSONL of {prompt, chosen, rejected} pairs or K-wise rankings.")
        parser.add_argument("--output", help="Checkpoint folder for --from-jsonl (default under RANKWISE_MODEL_DIR).")
        for flag, dest, kind in SETTINGS:
            parser.add_argument(flag, dest=dest, type=kind)

    def handle(self, *args, **options):
        hyperparameters = {dest: options[dest] for _, dest, _ in SETTINGS if options[dest] is not None}
        with tqdm(desc="training", unit="step", dynamic_ncols=True) as bar:
            def on_step(step, total_steps, loss):
                bar.total = total_steps
                bar.set_postfix(loss=f"{loss:.4f}")
                bar.update(step - bar.n)

            if options["project"]:
                metrics = self._train_project(options["project"], hyperparameters, on_step)
            else:
                metrics = self._train_jsonl(options["from_jsonl"], options["output"], hyperparameters, on_step)
        metrics.pop("loss_history", None)
        self.stdout.write(json.dumps(metrics, indent=2, sort_keys=True, default=str))

    def _train_project(self, name, hyperparameters, on_step):
        project = Project.objects.filter(name=name).first()
        if project is None:
            raise CommandError(f"no project named {name!r}")
        try:
            run = TrainingRun.objects.request(project, trigger=Trigger.MANUAL, hyperparameters=hyperparameters,
                                              enqueue=False)
        except TrainingAlreadyActive as exc:
            raise CommandError(str(exc)) from None
        try:
            version = execute(run, on_step=on_step)
        except Exception as exc:
            raise CommandError(f"training run {run.pk} failed: {exc}") from exc
        if version is None or run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"training run {run.pk} did not finish")
        version.refresh_from_db()
        state = ("is now current (a worker scores the candidates)" if version.is_current
                 else f"was not promoted ({version.promotion.get('reason', 'no decision recorded')})")
        self.stderr.write(f"version {version.version} of {project} {state}; checkpoint {version.checkpoint_path}")
        return version.metrics

    def _train_jsonl(self, path, output, hyperparameters, on_step):
        if not Path(path).is_file():
            raise CommandError(f"{path} is not a file")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        output = output or Path(settings.RANKWISE_MODEL_DIR) / "jsonl" / f"{Path(path).stem}-{stamp}"
        try:
            metrics, checkpoint = train_from_jsonl(path, hyperparameters, output, on_step=on_step)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"checkpoint saved to {checkpoint}")
        return metrics
