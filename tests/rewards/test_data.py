import json

import pytest

from rewards.training import RankingGroup, fingerprint, load_jsonl, shared_data_dir, split_by_prompt


def write_lines(path, rows):
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def test_loads_pairs_ranks_and_tiers(tmp_path):
    messages = [{"role": "user", "content": "hi"}]
    path = write_lines(
        tmp_path / "mixed.jsonl",
        [
            {"prompt": "\n\nHuman: hi\n\nAssistant:", "chosen": " hello", "rejected": " go away"},
            {"messages": messages, "responses": ["a", "b", "c"], "ranks": [1, 0, 1]},
            {"prompt": "q", "responses": ["x", "y"], "tiers": [1, 1], "labelers_agreed": False, "prompt_id": "q-7"},
        ],
    )
    pair, ranked, tied = load_jsonl(path)
    assert (pair.responses, pair.tiers, pair.pairs()) == ([" hello", " go away"], [1, 2], [(0, 1)])
    assert ranked.prompt == messages and ranked.tiers == [2, 1, 2] and sorted(ranked.pairs()) == [(1, 0), (1, 2)]
    assert tied.pairs() == [] and tied.labelers_agreed is False and tied.prompt_id == "q-7"


@pytest.mark.parametrize(
    "bad_line, reason",
    [
        ("{not json", "Expecting"),
        ({"prompt": "p", "chosen": "a"}, "rejected: missing"),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": [0]}, "2 responses but 1 tiers"),
        ({"prompt": "p", "responses": ["a"], "ranks": [0]}, "at least 2 responses"),
        ({"messages": [], "responses": ["a", "b"], "ranks": [0, 1]}, "messages: must be"),
        ({"prompt": "p", "responses": ["a", "b"], "ranks": [0, "1"]}, "integers"),
        ({"prompt": "p", "responses": ["a", "b"]}, "tiers: missing"),
    ],
)
def test_bad_line_error_names_line_and_reason(tmp_path, bad_line, reason):
    good = {"prompt": "p", "chosen": "a", "rejected": "b"}
    path = write_lines(tmp_path / "bad.jsonl", [good, "", good, bad_line])
    with pytest.raises(ValueError, match=rf"line 4: .*{reason}"):
        load_jsonl(path)


def test_same_prompt_shares_an_id_whatever_the_labeler():
    first = RankingGroup([{"role": "user", "content": "hi"}], ["a", "b"], [1, 2])
    second = RankingGroup([{"role": "user", "content": "hi"}], ["c", "d"], [2, 1])
    assert first.prompt_id == second.prompt_id != RankingGroup("hi", ["a", "b"], [1, 2]).prompt_id


def test_split_is_deterministic_and_disjoint_by_prompt():
    groups = [RankingGroup(f"prompt {i % 40}", ["a", "b"], [1, 2]) for i in range(120)]  # 3 labelers per prompt
    train, validation = split_by_prompt(groups, 0.25, seed=3)
    train_ids, validation_ids = {g.prompt_id for g in train}, {g.prompt_id for g in validation}
    assert not train_ids & validation_ids
    assert len(validation_ids) == 10 and len(train) + len(validation) == 120
    assert split_by_prompt(list(reversed(groups)), 0.25, seed=3)[1][0].prompt_id in validation_ids
    assert {g.prompt_id for g in split_by_prompt(groups, 0.25, seed=3)[1]} == validation_ids
    assert {g.prompt_id for g in split_by_prompt(groups, 0.25, seed=4)[1]} != validation_ids


def test_fingerprint_changes_with_content_not_order():
    groups = [RankingGroup(f"p{i}", ["a", "b"], [1, 2]) for i in range(5)]
    assert fingerprint(groups) == fingerprint(groups[::-1])
    assert fingerprint(groups) != fingerprint(groups[:4] + [RankingGroup("p4", ["a", "b"], [2, 1])])


def test_real_shared_files_load():
    hh = load_jsonl(shared_data_dir() / "hh_harmless_pairs.jsonl")
    oasst = load_jsonl(shared_data_dir() / "oasst_ranked_groups.jsonl")
    assert len(hh) == 1703 and all(g.prompt.endswith("\n\nAssistant:") for g in hh)
    assert len(oasst) == 207 and {len(g.responses) for g in oasst} <= set(range(2, 10))


def test_shared_data_dir_can_be_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv("RANKWISE_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
