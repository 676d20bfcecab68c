"""The JSON Lines records Rankwise writes (SFT, pairwise, K-wise) and the one reader of ranked records,
ours and others' (HH-RLHF pairs, Open-Assistant ranked groups).

Writers return plain dicts whose key order is the file's column order; a new optional field goes at the
end of its record (readers ignore fields they do not know), so adding one breaks no reader.

The reader checks a record's shape (which fields, their types, one entry per response) and raises
`RecordError` naming the field; rules of a particular platform (text length, K limits, the Likert scale)
are its callers' to check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .text import Message, Prompt, messages_from_prompt_text, prompt_text

# K-wise per-candidate lists beside `candidates` and `tiers`, as the export writes them, with the
# candidate field each one holds.
CANDIDATE_LISTS = {
    "candidate_indexes": "index", "likert": "likert", "flags": "flags", "candidate_sources": "source",
    "generators": "generator", "model_names": "model_name", "model_revisions": "model_revision",
    "sampling": "sampling", "seeds": "seed", "rewards": "reward",
}


class RecordError(ValueError):
    def __init__(self, field_name, message):
        self.field = field_name
        super().__init__(f"{field_name}: {message}")
        self.message = message


# --- Writers -------------------------------------------------------------------------------------

def sft_record(prompt: Prompt, completion: str) -> dict:
    """Prompt/completion SFT data (TRL's standard format): ``prompt + completion`` is the full text."""
    return {"prompt": prompt_text(prompt), "completion": completion}


def sft_chat_record(messages: list[Message], completion: str) -> dict:
    """Conversational SFT data: the demonstration as the assistant's turn."""
    return {"messages": messages + [{"role": "assistant", "content": completion}]}


def pairwise_record(prompt: str, chosen: str, rejected: str, margin: float | None = None) -> dict:
    """One comparison (HH-RLHF and TRL's standard preference format). `prompt` is `prompt_text` of the
    prompt (callers render it once per prompt); `margin` is optional."""
    record = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    if margin is not None:
        record["margin"] = margin
    return record


def kwise_record(*, id: str, prompt: str, messages: list[Message], kind: str, source: str, use_case: str,
                 candidates: list[dict], labeler: str, time_spent_ms: int, created_at: str,
                 strength: str | None = None, **extra) -> dict:
    """One labeler's ranking of one prompt's K candidates. `candidates`, in the order the labeler saw
    them, are dicts with `text`, `tier` and the fields of CANDIDATE_LISTS; `strength` says how much better
    tier 1's response is than tier 2's (None: not stated); `extra` fields follow."""
    def each(key):
        return [c[key] for c in candidates]

    return {"id": id, "prompt": prompt, "messages": messages, "kind": kind, "source": source, "use_case": use_case,
            "candidates": each("text"), "candidate_indexes": each("index"), "tiers": each("tier"),
            "likert": each("likert"), "flags": each("flags"), "strength": strength,
            "candidate_sources": each("source"), "generators": each("generator"), "model_names": each("model_name"),
            "model_revisions": each("model_revision"), "sampling": each("sampling"), "seeds": each("seed"),
            "rewards": each("reward"), "labeler": labeler, "time_spent_ms": time_spent_ms, "created_at": created_at,
            **extra}


# --- Reader --------------------------------------------------------------------------------------

@dataclass
class RankedRecord:
    """One ranking read from a record: a pair (K = 2) or a K-wise group."""

    prompt: Prompt  # the conversation (K-wise, Open-Assistant) or the exported prompt text (pairs)
    responses: list[str]  # in the record's order (for Rankwise's export, the order the labeler saw)
    tiers: list[int]  # one per response, 1 = best, equal = tie (Open-Assistant ranks + 1)
    id: str = ""
    labeler: str = ""
    margin: float | None = None  # pairs only: how much better chosen was
    # CANDIDATE_LISTS name -> one value per response, for the lists the record has.
    candidate_fields: dict[str, list] = field(default_factory=dict)
    record: dict = field(default_factory=dict)  # the record as read, for fields not named here

    @property
    def is_pair(self) -> bool:
        return "chosen" in self.record

    @property
    def messages(self) -> list[Message]:
        """The prompt as a conversation (a pair's prompt text read back as the one message it renders)."""
        return messages_from_prompt_text(self.prompt) if isinstance(self.prompt, str) else self.prompt


def is_ranked(record: dict) -> bool:
    """Whether a record holds a ranking (a pair or a K-wise group) rather than only a prompt."""
    return any(key in record for key in ("chosen", "rejected", "tiers", "ranks"))


def read_ranked(record) -> RankedRecord:
    """A pair ``{prompt, chosen, rejected, margin?}`` (HH-RLHF, TRL, Rankwise's pairwise export) or a
    K-wise group: Rankwise's export ``{messages | prompt, candidates, tiers, ...}`` or Open-Assistant's
    ``{messages | prompt, responses, ranks}`` (ranks count from 0 = best; ``tiers`` from 1 = best)."""
    if not isinstance(record, dict):
        raise RecordError("record", f"expected a JSON object, got {type(record).__name__}")
    if "chosen" in record or "rejected" in record:
        ranked = RankedRecord(prompt=_text(record, "prompt"), responses=[_text(record, "chosen"),
                              _text(record, "rejected")], tiers=[1, 2], record=record)
        margin = record.get("margin")
        if margin is not None and (not isinstance(margin, (int, float)) or isinstance(margin, bool)):
            raise RecordError("margin", "must be a number")
        ranked.margin = margin
    else:
        responses_field = "candidates" if "candidates" in record else "responses"
        if responses_field not in record:
            raise RecordError("candidates", "missing: give 'chosen'/'rejected', 'candidates' or 'responses'")
        responses = record[responses_field]
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise RecordError(responses_field, "must be a list of strings")
        if len(responses) < 2:
            raise RecordError(responses_field, f"a ranking needs at least 2 responses, got {len(responses)}")
        if "tiers" in record:
            tiers = _integers(record, "tiers", low=1)
        elif "ranks" in record:
            tiers = [rank + 1 for rank in _integers(record, "ranks", low=0)]
        else:
            raise RecordError("tiers", "missing: give 'tiers' (1 = best) or 'ranks' (0 = best)")
        if len(tiers) != len(responses):
            raise RecordError("tiers", f"{len(responses)} responses but {len(tiers)} tiers")
        ranked = RankedRecord(prompt=_prompt(record), responses=responses, tiers=tiers, record=record)
        for name in CANDIDATE_LISTS:
            values = record.get(name)
            if values is not None:
                if not isinstance(values, list) or len(values) != len(responses):
                    raise RecordError(name, f"must be a list with one entry per response ({len(responses)})")
                ranked.candidate_fields[name] = values
    ranked.id = _optional_text(record, "id")
    ranked.labeler = _optional_text(record, "labeler")
    return ranked


def _prompt(record) -> Prompt:
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise RecordError("messages", "must be a non-empty list of {role, content} objects")
        return [{"role": m["role"], "content": m["content"]} for m in messages]
    return _text(record, "prompt")


def _text(record, key) -> str:
    if key not in record:
        raise RecordError(key, "missing")
    if not isinstance(record[key], str):
        raise RecordError(key, "must be a string")
    return record[key]


def _optional_text(record, key) -> str:
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RecordError(key, "must be a string")
    return str(value)


def _integers(record, key, low) -> list[int]:
    values = record[key]
    if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= low for v in values):
        raise RecordError(key, f"must be a list of integers of at least {low}")
    return values
