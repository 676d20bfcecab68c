"""The exported datasets: for each, one SQL query that PostgreSQL streams row by row, a function that turns
a database row into an output record, and the Arrow schema of that record.

Comparisons are derived here, in SQL, from the rankings (a self-join of the candidate ratings of one ranking
where one tier beats the other): Rankwise stores rankings once and never a comparisons table. The SQL is kept
for speed (the pair join streams a million rows from PostgreSQL); tests/exports/test_rankdata_contract.py checks
that it gives exactly rankdata's comparisons and agreement. The records themselves are rankdata.records'.

Every query is ordered (by ranking, demonstration or prompt id, then candidate index), so the same data gives
the same file, and an export imported into a new project exports identically.
"""
import enum
import hashlib
import hmac

import orjson
import pyarrow as pa
from django.conf import settings

from labeling.models import Ranking
from labeling.models.rankings import prompts_agreeing
from labeling.validation import preference_margin
from rankdata.records import kwise_record, pairwise_record, sft_chat_record, sft_record
from rankdata.text import conversation_text, prompt_text

# A placeholder user made by an import carries the pseudonym it had in the source; see exports.importing.
EXTERNAL_LABELER_PREFIX = "ext:"

MESSAGES_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def pseudonym(user_id, username, pseudonymize=True):
    """A stable, keyed name for a labeler: the same person gets the same name in every export, and nobody
    without SECRET_KEY can tell who it is."""
    if username.startswith(EXTERNAL_LABELER_PREFIX):
        return username[len(EXTERNAL_LABELER_PREFIX):]
    if not pseudonymize:
        return username
    digest = hmac.new(settings.SECRET_KEY.encode(), f"rankwise-labeler:{user_id}".encode(), hashlib.sha256)
    return "labeler-" + digest.hexdigest()[:16]


def split_of(text, seed, shares):
    """The split a prompt belongs to, from a seeded hash of its text (or of its split group, so that all
    prompts of one API user share a split: `Prompts.fetch` passes the group instead of the text).

    Hashing the text (not the row id) keeps every row of a prompt, in every dataset and in a re-imported
    copy, in one split; and two prompts with the same text cannot end up on both sides of train/test."""
    if not shares:
        return None
    digest = hashlib.blake2b(f"{seed}\x00{text}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2**64
    total = 0.0
    for name, share in shares.items():
        total += share
        if point < total:
            return name
    return name  # rounding: the last split takes the top of the range


class PromptInfo:
    __slots__ = ("messages", "text", "split")

    def __init__(self, messages, text, split):
        self.messages, self.text, self.split = messages, text, split


class Prompts:
    """The prompts of the current batch of rows, read once per batch on the export's connection: the big
    query then carries no conversation per row, and memory holds one batch's prompts at most."""

    def __init__(self, seed, shares):
        self.seed, self.shares = seed, shares
        self.by_id = {}

    def fetch(self, conn, prompt_ids):
        self.by_id = {i: self.by_id[i] for i in prompt_ids if i in self.by_id}
        missing = [i for i in prompt_ids if i not in self.by_id]
        if missing:
            for prompt_id, messages, group in conn.execute(
                    "SELECT id, messages::text, split_group FROM labeling_prompt WHERE id = ANY(%s)", [missing]):
                messages = orjson.loads(messages)
                # The split hashes the conversation's text without prompt_text's ending, as it always has,
                # so a prompt stays in the split earlier exports put it in.
                split = split_of(group or conversation_text(messages), self.seed, self.shares)
                self.by_id[prompt_id] = PromptInfo(messages, prompt_text(messages), split)
        return self.by_id


class Labelers:
    """user id -> exported name; a project has few labelers, so the cache stays small."""

    def __init__(self, pseudonymize):
        self.pseudonymize = pseudonymize
        self.names = {}

    def name(self, user_id, username=None):
        if user_id not in self.names:
            if username is None:
                from django.contrib.auth.models import User

                username = User.objects.filter(pk=user_id).values_list("username", flat=True).first() or ""
            self.names[user_id] = pseudonym(user_id, username, self.pseudonymize)
        return self.names[user_id]


def prompt_filters(spec, alias="p"):
    """WHERE clauses on the prompt: project, kind, source, reported, labeler agreement."""
    f = spec.filters
    clauses, params = [f"{alias}.project_id = %s"], [spec.project_id]
    if f.kinds:
        clauses.append(f"{alias}.kind = ANY(%s)")
        params.append(f.kinds)
    if f.sources:
        clauses.append(f"{alias}.source = ANY(%s)")
        params.append(f.sources)
    if f.exclude_reported:
        clauses.append(f"{alias}.state <> 'reported'")
    if f.min_agreement is not None:
        # The stored agreement of the prompt (rankdata.agreement's pairwise agreement, kept up to date on
        # every submit): a prompt ranked once has none and is left out.
        sql, agreeing_params = subquery(prompts_agreeing(f.min_agreement))
        clauses.append(f"{alias}.id IN ({sql})")
        params += agreeing_params
    return clauses, params


def record_filters(spec, alias, user_column):
    """WHERE clauses on the exported record itself: its date and who made it."""
    f = spec.filters
    clauses, params = [], []
    if f.since:
        clauses.append(f"{alias}.created_at >= %s")
        params.append(f.since)
    if f.until:
        clauses.append(f"{alias}.created_at < %s")
        params.append(f.until)
    if f.labelers and user_column:
        clauses.append(f"{alias}.{user_column} IN (SELECT id FROM auth_user WHERE username = ANY(%s))")
        params.append(f.labelers)
    return clauses, params


def subquery(queryset):
    """(SQL, params) of an ORM queryset, for the export's own psycopg connection: the definition stays in
    one place (labeling's models) and the hand-written export SQL reads it as a subquery."""
    sql, params = queryset.query.sql_with_params()
    return sql, [param.value if isinstance(param, enum.Enum) else param for param in params]


def ranking_filters(spec):
    """WHERE clauses on an exported ranking: its date and labeler, flags, and whether it is usable for
    training (review, quarantine, gold) as labeling defines it."""
    f = spec.filters
    clauses, params = record_filters(spec, "r", "labeler_id")
    usable, usable_params = subquery(Ranking.objects.usable_for_training(
        accepted_only=f.accepted_only, include_quarantined=f.include_quarantined, include_gold=f.include_gold,
    ).filter(prompt__project_id=spec.project_id).values("id"))
    clauses.append(f"r.id IN ({usable})")
    params += usable_params
    if spec.filters.exclude_flagged:
        clauses.append("NOT EXISTS (SELECT 1 FROM labeling_candidaterating fr "
                       "WHERE fr.ranking_id = r.id AND fr.flags <> '[]'::jsonb)")
    return clauses, params


def where(*parts):
    clauses, params = [], []
    for c, p in parts:
        clauses += c
        params += p
    return " AND ".join(clauses), params


class Dataset:
    """One exported dataset. `sql` has no ORDER BY so that it can also be counted; `order_by` is added
    for the export itself."""

    name = ""
    order_by = ""

    def __init__(self, spec):
        self.spec = spec
        self.prompts = Prompts(spec.seed, spec.split)
        self.labelers = Labelers(spec.pseudonymize)

    def query(self):
        raise NotImplementedError

    def record(self, prompt, row):
        """(split, output dict) for one database row and its PromptInfo."""
        raise NotImplementedError

    def records(self, conn, rows):
        """(split, output dict) for a batch of rows; every row starts with its prompt id."""
        prompts = self.prompts.fetch(conn, {row[0] for row in rows})
        return [self.record(prompts[row[0]], row) for row in rows]

    def schema(self):
        raise NotImplementedError


class Pairwise(Dataset):
    name = "pairwise"
    order_by = "r.id, ca.index, cb.index"

    def query(self):
        condition, params = where(prompt_filters(self.spec), ranking_filters(self.spec))
        return f"""
            SELECT p.id, ca.text, cb.text, ra.likert - rb.likert, r.strength, ra.tier, rb.tier
            FROM labeling_ranking r
            JOIN labeling_prompt p ON p.id = r.prompt_id
            JOIN labeling_candidaterating ra ON ra.ranking_id = r.id
            JOIN labeling_candidaterating rb ON rb.ranking_id = r.id AND ra.tier < rb.tier
            JOIN labeling_candidate ca ON ca.id = ra.candidate_id
            JOIN labeling_candidate cb ON cb.id = rb.candidate_id
            WHERE {condition}""", params

    def records(self, conn, rows):
        # The hot loop of the largest export (a million rows is common): one pass, no call per row.
        prompts, margin, out = self.prompts.fetch(conn, {row[0] for row in rows}), self.spec.margin, []
        for prompt_id, chosen, rejected, likert_difference, strength, chosen_tier, rejected_tier in rows:
            prompt = prompts[prompt_id]
            if margin == "strength":
                # A stated strength is about the top pair (tiers 1 and 2, one response each); every other pair
                # gets 0, the plain loss.
                value = preference_margin(strength) if chosen_tier == 1 and rejected_tier == 2 else 0.0
            elif margin:
                # How much better the chosen response was rated on the 1-7 Likert scale (it may be 0 or
                # less: the ranking and the ratings are separate judgements).
                value = float(likert_difference)
            else:
                value = None
            out.append((prompt.split, pairwise_record(prompt.text, chosen, rejected, value)))
        return out

    def schema(self):
        fields = [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())]
        if self.spec.margin:
            fields.append(("margin", pa.float64()))
        return pa.schema(fields)


class Grouped(Dataset):
    name = "grouped"
    order_by = "r.id"

    def query(self):
        condition, params = where(prompt_filters(self.spec), ranking_filters(self.spec))
        return f"""
            SELECT p.id, p.external_id, p.kind, p.source, p.use_case, r.labeler_id, u.username, r.display_order::text, r.time_spent_ms, r.created_at, r.strength,
                   gold.prompt_id IS NOT NULL, r.review_status, agreement.agreeing_pairs::float8 / NULLIF(agreement.pairs, 0),
                   json_agg(json_build_object(
                       'id', c.id, 'index', c.index, 'text', c.text, 'source', c.source,
                       'generator', c.generator, 'model_name', c.model_name, 'model_revision', c.model_revision, 'sampling', c.sampling,
                       'seed', c.seed, 'reward', c.reward, 'tier', cr.tier, 'likert', cr.likert,
                       'flags', cr.flags))::text
            FROM labeling_ranking r
            JOIN labeling_prompt p ON p.id = r.prompt_id
            JOIN auth_user u ON u.id = r.labeler_id
            JOIN labeling_candidaterating cr ON cr.ranking_id = r.id
            JOIN labeling_candidate c ON c.id = cr.candidate_id
            LEFT JOIN labeling_goldranking gold ON gold.prompt_id = p.id
            LEFT JOIN labeling_promptagreement agreement ON agreement.prompt_id = p.id
            WHERE {condition}
            GROUP BY p.id, r.id, u.username, gold.prompt_id, agreement.prompt_id""", params

    def record(self, prompt, row):
        (prompt_id, external_id, kind, source, use_case, labeler_id, username, display_order, time_spent_ms,
         created_at, strength, gold, review_status, agreement, candidates) = row
        by_id = {c["id"]: c for c in orjson.loads(candidates)}
        order = [i for i in orjson.loads(display_order) if i in by_id]
        # Candidates the labeler was not shown in a recorded order (not expected) follow by index.
        order += sorted(set(by_id) - set(order), key=lambda i: by_id[i]["index"])
        shown = [by_id[i] for i in order]
        for candidate in shown:
            # Sampling settings differ by backend, so each is kept as a JSON object in a string.
            candidate["sampling"] = orjson.dumps(candidate["sampling"], option=orjson.OPT_SORT_KEYS).decode()
        return prompt.split, kwise_record(
            id=external_id or str(prompt_id), prompt=prompt.text, messages=prompt.messages, kind=kind,
            source=source, use_case=use_case, candidates=shown, labeler=self.labelers.name(labeler_id, username),
            time_spent_ms=time_spent_ms, created_at=created_at.isoformat(), strength=strength or None,
            # Quality: a gold prompt's ranking is a test of the labeler; the review's outcome; the pairwise
            # agreement of the prompt's labelers (null while it has one ranking).
            gold=gold, review_status=review_status, agreement=agreement)

    def schema(self):
        return pa.schema([
            ("id", pa.string()), ("prompt", pa.string()), ("messages", MESSAGES_TYPE), ("kind", pa.string()),
            ("source", pa.string()), ("use_case", pa.string()), ("candidates", pa.list_(pa.string())),
            ("candidate_indexes", pa.list_(pa.int16())), ("tiers", pa.list_(pa.int16())),
            ("likert", pa.list_(pa.int16())), ("flags", pa.list_(pa.list_(pa.string()))), ("strength", pa.string()),
            ("candidate_sources", pa.list_(pa.string())), ("generators", pa.list_(pa.string())),
            ("model_names", pa.list_(pa.string())), ("model_revisions", pa.list_(pa.string())), ("sampling", pa.list_(pa.string())),
            ("seeds", pa.list_(pa.int64())), ("rewards", pa.list_(pa.float64())), ("labeler", pa.string()),
            ("time_spent_ms", pa.int64()), ("created_at", pa.string()), ("gold", pa.bool_()),
            ("review_status", pa.string()), ("agreement", pa.float64()),
        ])


class Sft(Dataset):
    """One row per demonstration; `sft` gives {prompt, completion}, `sft_chat` the conversation with the
    demonstration as the assistant's turn."""

    name = "sft"
    order_by = "d.id"

    def query(self):
        condition, params = where(prompt_filters(self.spec), record_filters(self.spec, "d", "author_id"))
        return f"""
            SELECT p.id, d.text
            FROM labeling_demonstration d
            JOIN labeling_prompt p ON p.id = d.prompt_id
            WHERE {condition}""", params

    def record(self, prompt, row):
        if self.spec.dataset == "sft_chat":
            return prompt.split, sft_chat_record(prompt.messages, row[1])
        return prompt.split, sft_record(prompt.text, row[1])

    def schema(self):
        if self.spec.dataset == "sft_chat":
            return pa.schema([("messages", MESSAGES_TYPE)])
        return pa.schema([("prompt", pa.string()), ("completion", pa.string())])


class Ppo(Dataset):
    name = "ppo"
    order_by = "p.id"

    def query(self):
        condition, params = where(prompt_filters(self.spec), record_filters(self.spec, "p", "author_id"))
        return f"""
            SELECT p.id, p.external_id, p.kind, p.source, p.use_case
            FROM labeling_prompt p
            WHERE {condition}
              AND NOT EXISTS (SELECT 1 FROM labeling_demonstration d WHERE d.prompt_id = p.id)""", params

    def record(self, prompt, row):
        return prompt.split, {"id": row[1] or str(row[0]), "prompt": prompt.text, "messages": prompt.messages,
                              "kind": row[2], "source": row[3], "use_case": row[4]}

    def schema(self):
        return pa.schema([("id", pa.string()), ("prompt", pa.string()), ("messages", MESSAGES_TYPE),
                          ("kind", pa.string()), ("source", pa.string()), ("use_case", pa.string())])


# (record type, table, alias, the column that leads to the prompt, columns naming a user)
RAW_TABLES = [
    ("prompt", "labeling_prompt", "x", "x.id", ["author_id"]),
    ("demonstration", "labeling_demonstration", "x", "x.prompt_id", ["author_id"]),
    ("candidate", "labeling_candidate", "x", "x.prompt_id", []),
    ("ranking", "labeling_ranking", "x", "x.prompt_id", ["labeler_id", "reviewed_by_id"]),
    ("candidate_rating", "labeling_candidaterating", "x", "rr.prompt_id", []),
    ("task", "labeling_task", "x", "x.prompt_id", ["labeler_id"]),
]


class Raw(Dataset):
    """Every row of every labeling table that belongs to the selected prompts, as the database holds it
    (a JSON object per record), with user ids replaced by the labeler's exported name."""

    name = "raw"
    order_by = "1, 2"

    def query(self):
        parts, params = [], []
        for position, (kind, table, alias, prompt_column, _) in enumerate(RAW_TABLES):
            condition, p = where(prompt_filters(self.spec), record_filters(self.spec, "p", None))
            join = "JOIN labeling_ranking rr ON rr.id = x.ranking_id " if kind == "candidate_rating" else ""
            parts.append(f"""
                SELECT {position} AS position, {alias}.id AS id, {prompt_column} AS prompt_id,
                       row_to_json({alias})::text AS record
                FROM {table} {alias} {join}JOIN labeling_prompt p ON p.id = {prompt_column}
                WHERE {condition}""")
            params += p
        return " UNION ALL ".join(parts), params

    def records(self, conn, rows):
        return [self.record(None, row) for row in rows]  # raw records carry their prompt id, not its text

    def record(self, prompt, row):
        position, record_id, prompt_id, record = row
        kind, *_, user_columns = RAW_TABLES[position]
        data = orjson.loads(record)
        for column in user_columns:
            user_id = data.pop(column, None)
            data[column.removesuffix("_id")] = None if user_id is None else self.labelers.name(user_id)
        return None, {"type": kind, "id": record_id, "prompt_id": prompt_id,
                      "record": orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()}

    def schema(self):
        return pa.schema([("type", pa.string()), ("id", pa.int64()), ("prompt_id", pa.int64()),
                          ("record", pa.string())])


DATASET_CLASSES = {"sft": Sft, "sft_chat": Sft, "pairwise": Pairwise, "grouped": Grouped, "ppo": Ppo, "raw": Raw}


def dataset_for(spec):
    return DATASET_CLASSES[spec.dataset](spec)
