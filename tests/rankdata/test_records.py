import json
import os

import pytest

from rankdata.records import RecordError, is_ranked, kwise_record, pairwise_record, read_ranked, sft_chat_record, sft_record
from rankdata.text import prompt_text

MESSAGES = [{"role": "user", "content": "Name a colour."}]
CANDIDATES = [
    {"text": "Blue.", "index": 2, "tier": 1, "likert": 6, "flags": [], "source": "model", "generator": "a", "model_name": "tiny",
     "model_revision": "abc", "sampling": "{}", "seed": 3, "reward": 0.5},
    {"text": "Red.", "index": 0, "tier": 1, "likert": 6, "flags": [], "source": "model", "generator": "a", "model_name": "tiny",
     "model_revision": "abc", "sampling": "{}", "seed": 1, "reward": None},
    {"text": "Soup.", "index": 1, "tier": 2, "likert": 2, "flags": ["off_topic"], "source": "model",
     "generator": "b", "model_name": "tiny", "model_revision": "abc", "sampling": "{}", "seed": 2, "reward": -1.0},
]


def kwise(**extra):
    return kwise_record(id="p-1", prompt=prompt_text(MESSAGES), messages=MESSAGES, kind="plain", source="imported",
                        use_case="", candidates=CANDIDATES, labeler="labeler-1", time_spent_ms=900,
                        created_at="2026-01-01T00:00:00+00:00", **extra)


def test_the_kwise_record_reads_back_as_written_with_extra_fields_at_the_end():
    record = kwise(margin_scale="likert")
    assert list(record)[-1] == "margin_scale"  # a new optional field goes last; readers ignore it
    ranked = read_ranked(json.loads(json.dumps(record)))
    assert (ranked.prompt, ranked.responses, ranked.tiers) == (MESSAGES, ["Blue.", "Red.", "Soup."], [1, 1, 2])
    assert (ranked.id, ranked.labeler, ranked.is_pair) == ("p-1", "labeler-1", False)
    assert ranked.candidate_fields["candidate_indexes"] == [2, 0, 1]
    assert ranked.candidate_fields["flags"] == [[], [], ["off_topic"]]
    assert ranked.candidate_fields["generators"] == ["a", "a", "b"] and ranked.record["strength"] is None


def test_pairs_with_and_without_margin():
    record = pairwise_record(prompt_text(MESSAGES), "Blue.", "Soup.", margin=4.0)
    assert record == {"prompt": "Name a colour.\n\n", "chosen": "Blue.", "rejected": "Soup.", "margin": 4.0}
    ranked = read_ranked(record)
    assert (ranked.responses, ranked.tiers, ranked.margin, ranked.is_pair) == (["Blue.", "Soup."], [1, 2], 4.0, True)
    assert ranked.messages == MESSAGES  # the exported prompt text reads back as the conversation
    assert "margin" not in pairwise_record("p", "a", "b")


def test_sft_records():
    assert sft_record(MESSAGES, "Blue.") == {"prompt": "Name a colour.\n\n", "completion": "Blue."}
    assert sft_chat_record(MESSAGES, "Blue.") == {"messages": MESSAGES + [{"role": "assistant", "content": "Blue."}]}


def test_the_shared_hh_and_open_assistant_files_read(shared_data):
    with open(os.path.join(shared_data, "hh_helpful_pairs.jsonl")) as file:
        hh = read_ranked(json.loads(file.readline()))
    assert hh.is_pair and hh.prompt.endswith("\n\nAssistant:") and hh.tiers == [1, 2]
    assert prompt_text(hh.messages) == hh.prompt  # an HH prompt exports exactly as it came
    with open(os.path.join(shared_data, "oasst_ranked_groups.jsonl")) as file:
        row = json.loads(file.readline())
    oasst = read_ranked(row)
    assert oasst.prompt == row["messages"] and oasst.tiers == [rank + 1 for rank in row["ranks"]]


@pytest.mark.parametrize("record, field_name", [
    ({"prompt": "p", "chosen": "a"}, "rejected"),
    ({"prompt": 3, "chosen": "a", "rejected": "b"}, "prompt"),
    ({"prompt": "p", "chosen": "a", "rejected": "b", "margin": "big"}, "margin"),
    ({"messages": [], "responses": ["a", "b"], "ranks": [0, 1]}, "messages"),
    ({"prompt": "p", "responses": ["a", "b"], "ranks": [0, -1]}, "ranks"),
    ({"prompt": "p", "candidates": ["a", "b"], "tiers": [1]}, "tiers"),
    ({"prompt": "p", "candidates": ["a"], "tiers": [1]}, "candidates"),
    ({"prompt": "p", "candidates": ["a", "b"]}, "tiers"),
    ({"prompt": "p", "candidates": ["a", "b"], "tiers": [1, 2], "likert": [4]}, "likert"),
    ({"prompt": "p", "candidates": ["a", "b"], "tiers": [1, 2], "labeler": ["x"]}, "labeler"),
    (["not", "an", "object"], "record"),
])
def test_a_bad_record_names_its_field(record, field_name):
    with pytest.raises(RecordError) as error:
        read_ranked(record)
    assert error.value.field == field_name and str(error.value).startswith(f"{field_name}: ")


def test_is_ranked_tells_rankings_from_prompt_lines():
    assert is_ranked({"prompt": "p", "chosen": "a", "rejected": "b"}) and is_ranked(kwise())
    assert not is_ranked({"prompt": "p", "candidates": ["a", "b"]})  # a prompt with candidates to rank
