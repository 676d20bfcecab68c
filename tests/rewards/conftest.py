import pytest
from transformers import AutoTokenizer

from rewards.training import default_backbone_path, load_backbone


@pytest.fixture(scope="session")
def minilm_tokenizer():
    return AutoTokenizer.from_pretrained(default_backbone_path())


@pytest.fixture(scope="session")
def minilm_reward_model():
    """A fresh (untrained head) MiniLM reward model and its tokenizer; tests must not train it."""
    model, tokenizer = load_backbone(default_backbone_path())
    tokenizer.model_max_length = 64
    return model.eval(), tokenizer
