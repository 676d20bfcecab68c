"""Decoder reward models: last-token pooling whatever the padding side, and sequence-classification checkpoints."""
import pytest
import torch

from rewards.training import load_backbone, load_checkpoint, save_checkpoint
from rewards.training import RewardConfig

ROWS = [[5, 9, 17, 33, 41, 2], [7, 8, 2], [11, 12, 13, 14]]  # ends in token 2, which is also the pad token below


def padded(rows, pad_token_id, side):
    longest = max(map(len, rows))
    ids, mask = [], []
    for row in rows:
        padding = [pad_token_id] * (longest - len(row))
        ids.append(row + padding if side == "right" else padding + row)
        mask.append([1] * len(row) + [0] * len(padding) if side == "right" else [0] * len(padding) + [1] * len(row))
    return torch.tensor(ids), torch.tensor(mask)


@pytest.mark.parametrize("classifier", [False, True], ids=["base-model-and-head", "sequence-classification"])
def test_last_token_pooling_ignores_padding_on_either_side(classifier, tiny_model_dir, tiny_llama_classifier_dir):
    model, tokenizer = load_backbone(tiny_llama_classifier_dir if classifier else tiny_model_dir)
    assert model.pooling == ("sequence_classification" if classifier else "last_token")
    model.eval()
    with torch.no_grad():
        alone = torch.cat([model(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long)) for row in ROWS])
        for side in ("right", "left"):
            ids, mask = padded(ROWS, 2, side)  # pads with the row-ending token: pooling must follow the mask
            assert model(ids, mask) == pytest.approx(alone, abs=1e-5), side
        assert len(set(alone.tolist())) == 3


def test_a_decoder_classifier_scores_like_transformers_and_survives_a_checkpoint(tiny_llama_classifier_dir, tmp_path):
    model, tokenizer = load_backbone(tiny_llama_classifier_dir)
    model.eval()
    row = torch.tensor([[5, 9, 17, 33, 41]])  # no pad token in it: transformers' own pooling reads it right
    with torch.no_grad():
        ours = model(row, torch.ones_like(row))
        theirs = model.backbone(input_ids=row).logits.squeeze(-1)
    assert ours == pytest.approx(theirs, abs=1e-5)
    directory = save_checkpoint(model, tokenizer, RewardConfig(backbone=str(tiny_llama_classifier_dir)), {}, tmp_path / "rm")
    loaded, _, metadata = load_checkpoint(directory)
    assert metadata["pooling"] == "sequence_classification"
    with torch.no_grad():
        assert loaded(row, torch.ones_like(row)) == pytest.approx(ours, abs=1e-5)


def test_mean_pooling_is_refused_for_a_decoder(tiny_model_dir):
    with pytest.raises(ValueError, match="mean pooling is for encoders"):
        load_backbone(tiny_model_dir, pooling="mean")
