"""Import prompts (optionally with ready-made candidates) from JSONL or CSV. All or nothing.

JSONL, one object per line:
    {"prompt": "text"}  or  {"messages": [{"role": "user", "content": "..."}, ...]}
    optional: "candidates": [K strings], "kind": plain|few_shot|use_case, "use_case": "...", "id": "...",
              "model_name": "..." (who wrote the candidates),
              "gold": [K tiers] (a gold prompt: its reference ranking, one tier per candidate, 1 = best)
CSV, with a header row: prompt, optional kind, use_case, id, and candidate_1 ... candidate_K.

Every line is checked before anything is written; any bad line fails the whole import with its
line number and the reason.
"""
import csv
import io
from dataclasses import dataclass, field

import orjson
from django.core.exceptions import ValidationError
from django.db import transaction

from labeling import workflow
from labeling.models import Candidate, GoldSource, Prompt, PromptKind, PromptSource
from labeling.validation import validate_candidates, validate_messages, validate_reference, validate_text


class ImportFailed(Exception):
    def __init__(self, errors):
        self.errors = errors  # [(line number, reason)]
        super().__init__("; ".join(f"line {n}: {reason}" for n, reason in errors[:20]))


@dataclass
class PromptRow:
    line: int
    messages: list
    kind: str = PromptKind.PLAIN
    use_case: str = ""
    external_id: str = ""
    candidates: list = field(default_factory=list)
    model_name: str = ""
    gold: list | None = None  # the reference tiers of a gold prompt, in candidate order


def _error_text(exc):
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def row_from_record(record, line, k):
    """Turn one decoded record (a dict) into a PromptRow, or raise ValidationError naming the field."""
    if not isinstance(record, dict):
        raise ValidationError("each line must be a JSON object")
    if "messages" in record:
        messages = record["messages"]
    elif isinstance(record.get("prompt"), str):
        validate_text("prompt", record["prompt"])
        messages = [{"role": "user", "content": record["prompt"]}]
    else:
        raise ValidationError({"prompt": "missing: give prompt (text) or messages (a conversation)"})
    validate_messages(messages)
    kind = record.get("kind") or PromptKind.PLAIN
    if kind not in PromptKind.values:
        raise ValidationError({"kind": f"{kind!r} is not one of {', '.join(PromptKind.values)}"})
    candidates = record.get("candidates") or []
    if candidates:
        validate_candidates(candidates, k)
    gold = record.get("gold")
    if gold is not None:
        if not candidates:
            raise ValidationError({"gold": "a gold prompt needs its candidates"})
        gold = validate_reference(gold, k, field="gold")
    use_case, external_id, model_name = (_short_text(record, name, limit) for name, limit in (
        ("use_case", Prompt._meta.get_field("use_case").max_length),
        ("id", Prompt._meta.get_field("external_id").max_length),
        ("model_name", Candidate._meta.get_field("model_name").max_length)))
    return PromptRow(line=line, messages=messages, kind=kind, use_case=use_case, external_id=external_id,
                     candidates=candidates, model_name=model_name, gold=gold)


def _short_text(record, name, limit):
    """An optional label of the line (use case, id, model name), as text that fits its column."""
    text = str(record.get(name) or "")
    if len(text) > limit:
        raise ValidationError({name: f"is {len(text)} characters; the limit is {limit}"})
    if "\x00" in text:
        raise ValidationError({name: "must not contain NUL characters (U+0000)"})
    return text


def jsonl_records(lines):
    """(line number, decoded object) for each non-blank line (str or bytes); a ValidationError in place
    of the object for a line that is not JSON, so that the caller reports every bad line at once."""
    for line, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield line, orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            yield line, ValidationError(f"not valid JSON ({exc.msg} at column {exc.colno})")


def _csv_records(text):
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "prompt" not in reader.fieldnames:
        yield 1, ValidationError({"prompt": "the CSV header must have a prompt column"})
        return
    candidate_columns = sorted((c for c in reader.fieldnames if c.startswith("candidate_")),
                               key=lambda c: int(c.split("_")[1]) if c.split("_")[1].isdigit() else 0)
    for row in reader:
        record = {key: row.get(key) for key in ("prompt", "kind", "use_case", "id")}
        record["candidates"] = [row[c] for c in candidate_columns if row.get(c)]
        yield reader.line_num, record


def parse(text, filename, k):
    """Check every line; return PromptRows or raise ImportFailed listing each bad line."""
    records = _csv_records(text) if filename.lower().endswith(".csv") else jsonl_records(text.splitlines())
    rows, errors = [], []
    for line, record in records:
        try:
            if isinstance(record, ValidationError):
                raise record
            rows.append(row_from_record(record, line, k))
        except ValidationError as exc:
            errors.append((line, _error_text(exc)))
    if errors:
        raise ImportFailed(errors)
    if not rows:
        raise ImportFailed([(0, "the file holds no prompts")])
    return rows


@transaction.atomic
def import_prompts(project, text, filename="upload.jsonl", source=PromptSource.IMPORTED):
    return store_prompt_rows(project, parse(text, filename, project.k), source)


def store_prompt_rows(project, rows, source=PromptSource.IMPORTED):
    """Create checked PromptRows through the workflow (so every rule of a labeler-made prompt holds for an
    imported one); callers hold a transaction (exports.importing reuses this for the prompt lines of
    Parquet, gzip and datasets files)."""
    prompts = []
    for row in rows:
        prompt = workflow.create_prompt(project, messages=row.messages, kind=row.kind, use_case=row.use_case,
                                        external_id=row.external_id, candidates=row.candidates,
                                        model_name=row.model_name, source=source)
        if row.gold:
            workflow.mark_gold(prompt, row.gold, source=GoldSource.IMPORT, field="gold")
        prompts.append(prompt)
    return prompts
