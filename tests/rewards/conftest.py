import pytest
import torch
from transformers import AutoTokenizer

from rewards.training import default_backbone_path, load_backbone
from tests.worker.conftest import tiny_model_dir  # noqa: F401  (the one tiny Llama of the suite)


@pytest.fixture(scope="session")
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(default_backbone_path())


@pytest.fixture(scope="session")
def minilm_reward_model():
    """A fresh (untrained head) MiniLM reward model and its tokenizer; tests must not train it."""
    model, tokenizer = load_backbone(default_backbone_path())
    tokenizer.model_max_length = 64
    return model.eval(), tokenizer


@pytest.fixture(scope="session")
def tiny_llama_classifier_dir(tiny_model_dir, tmp_path_factory):
    """The tiny Llama as a one-output LlamaForSequenceClassification (a fresh `score` head), saved."""
    from transformers import AutoTokenizer, LlamaForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-llama-rm")
    torch.manual_seed(1)
    LlamaForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    return path
