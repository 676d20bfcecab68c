"""Import datasets back: every export format (JSONL, gzipped JSONL, Parquet, a Hugging Face datasets folder
or its .tar) and three kinds of lines, which may be mixed in one file:

- a prompt, optionally with candidates (the lines labeling.importing reads: `prompt` or `messages`);
- a pairwise comparison, `{prompt, chosen, rejected}` with an optional `margin` (HH-RLHF, TRL);
- a grouped ranking, as Rankwise's grouped export writes it (`candidates` in display order and `tiers`,
  1 = best, with ties), or Open-Assistant style `responses` with `ranks` (0 = best).
rankdata.records reads the ranked lines (the same reader as the reward-model trainer's); this module adds the
platform's rules (K, text length, the Likert scale) and stores them.

Rankings become native data: a prompt, its candidates, and a submitted rank task plus Ranking per labeler,
where each labeler pseudonym from the file gets a placeholder user (inactive, no password). Grouped lines
that share an `id` are rankings of one prompt. As in labeling.importing, every line is checked first and
any bad line fails the whole import, with its line number (row number for Parquet and datasets), and
nothing is stored.
"""
import contextvars
import gzip
import lzma
import math
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow
import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from exports.datasets import EXTERNAL_LABELER_PREFIX
from labeling import workflow
from labeling.importing import ImportFailed, _error_text, jsonl_records, row_from_record, store_prompt_rows
from labeling.importing import parse as parse_prompt_file
from labeling.limits import MAX_INT32, check_settings_object
from labeling.models import PromptSource, ReviewStatus
from labeling.validation import LIKERT_MAX, LIKERT_MIN, MAX_K, validate_ratings, validate_strength, validate_text
from rankdata.records import RecordError, is_ranked, read_ranked

NEUTRAL_LIKERT = (LIKERT_MIN + LIKERT_MAX) // 2
DEFAULT_LABELER = "imported"
PARQUET_BATCH_ROWS = 1_000


@dataclass
class ImportedRanking:
    line: int
    labeler: str
    order: list  # candidate indexes in display order
    ratings: list  # [{"candidate": index, "tier", "likert", "flags"}]
    time_spent_ms: int = 0
    created_at: object = None
    strength: str = ""  # labeling.validation.PREFERENCE_STRENGTHS name, "" when not stated
    review_status: str = ReviewStatus.UNREVIEWED  # as the grouped export writes it


@dataclass
class RankedPrompt:
    line: int
    prompt: object  # labeling.importing.PromptRow (messages, kind, use_case, external_id)
    source: str
    candidates: dict  # index -> Candidate field values
    rankings: list = field(default_factory=list)


@dataclass
class ImportResult:
    prompts: int = 0
    rankings: int = 0


# --- Reading files -------------------------------------------------------------------------------

class TooLarge(Exception):
    """The file expands past the limit (a decompression bomb, or just too big)."""

    def __init__(self, reason, line=0):
        super().__init__(reason)
        self.line = line


# What a damaged or mislabelled file raises while it is read: each becomes an ImportFailed naming the line.
UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError, tarfile.TarError, pyarrow.ArrowException, UnicodeError,
              ValueError)
READ_CHUNK_BYTES = 1 << 20
# The expansion limit in force while a file is read: RANKWISE_MAX_IMPORT_EXPANDED_BYTES, or less for a quick check.
_limit = contextvars.ContextVar("import_expansion_limit", default=None)


def expansion_limit():
    return _limit.get() or settings.RANKWISE_MAX_IMPORT_EXPANDED_BYTES


def _bounded_lines(file):
    """The file's lines (bytes), read in chunks, refusing to go past the expansion limit, even in one endless line."""
    limit, total, pending = expansion_limit(), 0, b""
    while chunk := file.read(READ_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise TooLarge(f"it expands past {limit} bytes")
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def checked_records(path):
    """read_records, with an unreadable file reported as an ImportFailed, and TooLarge given its line."""
    line = 0
    try:
        for line, record in read_records(path):
            yield line, record
    except TooLarge as exc:
        raise TooLarge(str(exc), line + 1) from None
    except UNREADABLE as exc:
        raise ImportFailed([(line + 1, f"the file cannot be read: {exc or type(exc).__name__}")]) from None


def read_records(path):
    """(line or row number, decoded record) for each line of an export file or folder."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        yield from _dataset_records(path)
    elif name.endswith(".tar"):
        yield from _tar_records(path)
    elif name.endswith(".parquet"):
        number = 0
        parquet = pq.ParquetFile(path)
        if sum(parquet.metadata.row_group(i).total_byte_size for i in range(parquet.num_row_groups)) > expansion_limit():
            raise TooLarge(f"its columns expand past {expansion_limit()} bytes")
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for record in batch.to_pylist():
                number += 1
                yield number, record
    else:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as file:
            yield from jsonl_records(_bounded_lines(file))


def _dataset_records(folder):
    import datasets

    loaded = datasets.load_from_disk(str(folder))
    parts = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
    number = 0
    for part in parts:
        for record in part:
            number += 1
            yield number, record


def _tar_records(path):
    """An export packed as .tar: a datasets folder, or one file per split."""
    with tempfile.TemporaryDirectory() as scratch, tarfile.open(path) as tar:
        expanded = 0
        for member in tar:  # reads the headers as far as the limit allows, before anything is written
            expanded += member.size
            if expanded > expansion_limit():
                raise TooLarge(f"its files expand past {expansion_limit()} bytes")
        tar.extractall(scratch, filter="data")
        entries = sorted(Path(scratch).iterdir())
        if any((entry / "dataset_dict.json").exists() or (entry / "dataset_info.json").exists()
               for entry in entries if entry.is_dir()):
            for entry in entries:
                yield from _dataset_records(entry)
            return
        number_offset = 0
        for entry in entries:
            last = 0
            for number, record in read_records(entry):
                last = number
                yield number_offset + number, record
            number_offset += last


# --- Checking lines ------------------------------------------------------------------------------

def _int(value, name, low=None, high=None):
    if not isinstance(value, int) or isinstance(value, bool) or (low is not None and value < low) or (
            high is not None and value > high):
        bounds = f" from {low} to {high}" if high is not None else (f" of at least {low}" if low is not None else "")
        raise ValidationError({name: f"must be a whole number{bounds}"})
    return value


def _prompt_part(ranked, line, k):
    record = {key: ranked.record[key] for key in ("kind", "use_case") if ranked.record.get(key) is not None}
    return row_from_record(record | {"messages": ranked.messages, "id": ranked.id}, line, k)


def _source(record):
    source = record.get("source") or PromptSource.IMPORTED
    if source not in PromptSource.values:
        raise ValidationError({"source": f"{source!r} is not one of {', '.join(PromptSource.values)}"})
    return source


def _candidate(text, index, field_name):
    validate_text(field_name, text)
    return {"index": index, "text": text, "source": "imported", "model_name": "", "model_revision": "",
            "sampling": {}, "seed": None, "reward": None}


def pairwise_prompt(ranked, line, k):
    if k != 2:
        raise ValidationError({"chosen": f"a chosen/rejected pair has 2 responses; this project ranks K={k}"})
    prompt = _prompt_part(ranked, line, k)
    margin = ranked.margin
    if margin is None:
        likert = [NEUTRAL_LIKERT, NEUTRAL_LIKERT]
    else:
        if margin != int(margin) or not 0 <= margin <= LIKERT_MAX - LIKERT_MIN:
            raise ValidationError({"margin": f"must be a whole number from 0 to {LIKERT_MAX - LIKERT_MIN} "
                                             "(the Likert difference of chosen over rejected)"})
        # Ratings centred on the scale whose difference is the margin: 0 -> 4/4, 1 -> 5/4, 6 -> 7/1.
        chosen = NEUTRAL_LIKERT + math.ceil(margin / 2)
        likert = [chosen, chosen - int(margin)]
    candidates = {0: _candidate(ranked.responses[0], 0, "chosen"), 1: _candidate(ranked.responses[1], 1, "rejected")}
    ranking = ImportedRanking(line=line, labeler=_labeler(ranked), order=[0, 1], ratings=[
        {"candidate": 0, "tier": 1, "likert": likert[0], "flags": []},
        {"candidate": 1, "tier": 2, "likert": likert[1], "flags": []},
    ])
    return RankedPrompt(line=line, prompt=prompt, source=_source(ranked.record), candidates=candidates,
                        rankings=[ranking])


def _labeler(ranked):
    labeler = ranked.labeler or DEFAULT_LABELER
    if len(labeler) > 140 or "\x00" in labeler:
        raise ValidationError({"labeler": "must be a pseudonym of at most 140 characters, without NUL"})
    return labeler


def grouped_prompt(ranked, line, k):
    """A K-wise ranking: Rankwise's grouped export (every per-candidate field kept) or Open-Assistant's."""
    prompt = _prompt_part(ranked, line, k)
    texts, tiers, n = ranked.responses, ranked.tiers, len(ranked.responses)
    field_name = "candidates" if "candidates" in ranked.record else "responses"
    if n != k:
        raise ValidationError({field_name: f"has {n} responses; this project ranks K={k}"})
    lists = ranked.candidate_fields
    indexes = lists.get("candidate_indexes") or list(range(n))
    for i, index in enumerate(indexes):
        _int(index, f"candidate_indexes[{i}]", 0, MAX_K - 1)
    if len(set(indexes)) != n:
        raise ValidationError({"candidate_indexes": "names a candidate twice"})
    likert = lists.get("likert") or [NEUTRAL_LIKERT] * n
    flags = lists.get("flags") or [[]] * n
    sources = lists.get("candidate_sources") or ["imported"] * n
    model_names = lists.get("model_names") or [""] * n
    generators = lists.get("generators") or [""] * n
    revisions = lists.get("model_revisions") or [""] * n
    sampling = lists.get("sampling") or ["{}"] * n
    seeds = lists.get("seeds") or [None] * n
    rewards = lists.get("rewards") or [None] * n
    candidates = {}
    for i, index in enumerate(indexes):
        candidate = _candidate(texts[i], index, f"{field_name}[{i}]")
        for name, values, longest in (("source", sources, 300), ("generator", generators, 100),
                                      ("model_name", model_names, 300), ("model_revision", revisions, 300)):
            if not isinstance(values[i], str) or len(values[i]) > longest:
                raise ValidationError({f"{name}s[{i}]": f"must be a string of at most {longest} characters"})
            candidate[name] = values[i]
        try:
            candidate["sampling"] = orjson.loads(sampling[i]) if isinstance(sampling[i], str) else sampling[i]
        except orjson.JSONDecodeError:
            raise ValidationError({f"sampling[{i}]": "is not a JSON object"}) from None
        try:
            check_settings_object(candidate["sampling"])
        except ValidationError as exc:
            raise ValidationError({f"sampling[{i}]": exc.messages}) from None
        candidate["seed"] = None if seeds[i] is None else _int(seeds[i], f"seeds[{i}]", -2**63, 2**63 - 1)
        if rewards[i] is not None and not isinstance(rewards[i], (int, float)):
            raise ValidationError({f"rewards[{i}]": "must be a number"})
        candidate["reward"] = rewards[i]
        candidates[index] = candidate
    ratings = [{"candidate": indexes[i], "tier": tiers[i], "likert": likert[i], "flags": flags[i]} for i in range(n)]
    dense = validate_ratings(ratings, indexes)
    for rating in ratings:
        rating["tier"] = dense[rating["candidate"]]
        rating["flags"] = sorted(set(rating["flags"]))
    created_at = ranked.record.get("created_at")
    if created_at is not None:
        try:
            created_at = parse_datetime(created_at) if isinstance(created_at, str) else None
        except ValueError:  # well-formed but impossible, like month 13
            created_at = None
        if created_at is None:
            raise ValidationError({"created_at": "must be an ISO 8601 date and time"})
    ranking = ImportedRanking(line=line, labeler=_labeler(ranked), order=list(indexes), ratings=ratings,
                              time_spent_ms=_int(ranked.record.get("time_spent_ms", 0), "time_spent_ms", 0, MAX_INT32),
                              created_at=created_at, strength=validate_strength(ranked.record.get("strength"), dense),
                              review_status=_review_status(ranked.record))
    return RankedPrompt(line=line, prompt=prompt, source=_source(ranked.record), candidates=candidates,
                        rankings=[ranking])


def _review_status(record):
    status = record.get("review_status") or ReviewStatus.UNREVIEWED
    if status not in ReviewStatus.values:
        raise ValidationError({"review_status": f"{status!r} is not one of {', '.join(ReviewStatus.values)}"})
    return status


def _merge(into, other):
    """A second grouped line for the same prompt id: another labeler's ranking of the same candidates."""
    if {i: c["text"] for i, c in into.candidates.items()} != {i: c["text"] for i, c in other.candidates.items()}:
        raise ValidationError({"candidates": f"id {other.prompt.external_id!r} was given other candidates on "
                                             f"line {into.line}"})
    if into.prompt.messages != other.prompt.messages:
        raise ValidationError({"messages": f"id {other.prompt.external_id!r} was given another prompt on "
                                           f"line {into.line}"})
    labeler = other.rankings[0].labeler
    if any(r.labeler == labeler for r in into.rankings):
        raise ValidationError({"labeler": f"{labeler!r} already ranked id {other.prompt.external_id!r} on "
                                          f"line {into.line}"})
    into.rankings += other.rankings


def parse(records, k):
    """Check every record; return (prompt rows, ranked prompts) or raise ImportFailed listing bad lines."""
    prompt_rows, ranked, by_id, errors = [], [], {}, []
    for line, record in records:
        try:
            if isinstance(record, ValidationError):
                raise record
            if not isinstance(record, dict):
                raise ValidationError("each line must be a JSON object")
            if not is_ranked(record):
                prompt_rows.append(row_from_record(record, line, k))
                continue
            ranking = read_ranked(record)
            if ranking.is_pair:
                ranked.append(pairwise_prompt(ranking, line, k))
            else:
                item = grouped_prompt(ranking, line, k)
                key = item.prompt.external_id
                if key and key in by_id:
                    _merge(by_id[key], item)
                else:
                    ranked.append(item)
                    if key:
                        by_id[key] = item
        except ValidationError as exc:
            errors.append((line, _error_text(exc)))
        except RecordError as exc:
            errors.append((line, str(exc)))
    if errors:
        raise ImportFailed(errors)
    if not prompt_rows and not ranked:
        raise ImportFailed([(0, "the file holds no prompts")])
    return prompt_rows, ranked


# --- Storing -------------------------------------------------------------------------------------

class PlaceholderLabelers:
    def __init__(self):
        self.users = {}

    def get(self, pseudonym):
        if pseudonym not in self.users:
            user, created = User.objects.get_or_create(username=EXTERNAL_LABELER_PREFIX + pseudonym,
                                                       defaults={"is_active": False})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            self.users[pseudonym] = user
        return self.users[pseudonym]


# Prompts stored between two progress reports.
PROGRESS_BATCH = 1_000


def check_file(project, path, filename=None, limit=None):
    """Read and check every line of an import file, expanding it no further than `limit` (default: the
    expansion limit); return (prompt rows, ranked prompts), or raise ImportFailed or TooLarge."""
    filename = filename or Path(path).name
    token = _limit.set(limit)
    try:
        if filename.lower().endswith(".csv"):
            if Path(path).stat().st_size > expansion_limit():
                raise TooLarge(f"it is larger than {expansion_limit()} bytes")
            try:
                text = Path(path).read_text("utf-8")
            except UnicodeDecodeError as exc:
                raise ImportFailed([(text_line(Path(path).read_bytes(), exc.start), "is not UTF-8 text")]) from None
            return parse_prompt_file(text, filename, project.k), []
        return parse(checked_records(path), project.k)
    finally:
        _limit.reset(token)


def text_line(data, offset):
    return data.count(b"\n", 0, offset) + 1


def import_file(project, path, filename=None, on_progress=lambda done, total: None):
    """Import an export file or folder into `project`, all or nothing; return an ImportResult.
    `on_progress(prompts stored, prompts in the file)` is called after every batch."""
    try:
        prompt_rows, ranked = check_file(project, path, filename)
    except TooLarge as exc:
        raise ImportFailed([(exc.line, f"the file cannot be read: {exc}")]) from None
    labelers = PlaceholderLabelers()
    total, done = len(prompt_rows) + len(ranked), 0
    with transaction.atomic():
        for rows, store in ((prompt_rows, lambda batch: store_prompt_rows(project, batch)),
                            (ranked, lambda batch: workflow.import_ranked_prompts(project, batch, labelers.get))):
            for start in range(0, len(rows), PROGRESS_BATCH):
                store(rows[start:start + PROGRESS_BATCH])
                done += len(rows[start:start + PROGRESS_BATCH])
                on_progress(done, total)
    return ImportResult(prompts=total, rankings=sum(len(i.rankings) for i in ranked))
