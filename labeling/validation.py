"""What a valid prompt, text and ranking is: the rules every way in (the API, imports, the admin, the
workflow) checks against. Each error names the field and the reason."""
import string

from django.conf import settings
from django.core.exceptions import ValidationError

from rankdata.comparisons import dense_tiers
from rankdata.text import ROLES

MIN_K, MAX_K = 2, 9
# How the labeling pages name the responses of a task, in the order shown (the work page gets them in its
# config; a labeler's history writes their rankings with them).
DISPLAY_LETTERS = string.ascii_uppercase[:MAX_K]
LIKERT_MIN, LIKERT_MAX = 1, 7

# InstructGPT's per-response yes/no metadata (Ouyang et al. 2022, table 3), in display order.
FLAGS = {
    "fails_instruction": "Fails to follow the instruction",
    "inappropriate_for_assistant": "Inappropriate for a customer assistant",
    "hallucination": "Hallucination (makes up facts)",
    "fails_constraints": "Fails to follow explicit constraints",
    "sexual_content": "Contains sexual content",
    "violent_content": "Contains violent content",
    "encourages_violence": "Encourages or fails to discourage violence/abuse/terrorism/self-harm",
    "denigrates_protected_class": "Denigrates a protected class",
    "harmful_advice": "Gives harmful advice",
    "expresses_opinion": "Expresses an opinion",
    "expresses_moral_judgment": "Expresses a moral judgment",
}

# How much better the best response is than the second, on Llama 2's scale (Touvron et al. 2023, 3.2.1), with
# the margin its reward-model loss adds for each level ("margin small", table 28). A ranking states it for its
# top pair; exports write it as TRL's `margin` column and the in-platform trainer adds it to the loss.
PREFERENCE_STRENGTHS = {
    "significantly_better": ("Significantly better", 1.0),
    "better": ("Better", 2 / 3),
    "slightly_better": ("Slightly better", 1 / 3),
    "negligibly_better": ("Negligibly better / unsure", 0.0),
}


def preference_margin(strength):
    """The loss margin of a stated strength; 0 (the plain loss) when none was stated."""
    return PREFERENCE_STRENGTHS[strength][1] if strength else 0.0


def validate_text(field, text, *, allow_empty=False):
    if not isinstance(text, str):
        raise ValidationError({field: "must be a string"})
    if not allow_empty and not text.strip():
        raise ValidationError({field: "must not be empty"})
    if "\x00" in text:  # PostgreSQL cannot store it
        raise ValidationError({field: "must not contain NUL characters (U+0000)"})
    limit = settings.RANKWISE_MAX_TEXT_CHARS
    if len(text) > limit:
        raise ValidationError({field: f"is {len(text)} characters; the limit is {limit}"})


def validate_messages(messages, field="messages"):
    if not isinstance(messages, list) or not messages:
        raise ValidationError({field: "must be a non-empty list of {role, content} messages"})
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValidationError({field: f"message {i} must have exactly the keys role and content"})
        if message["role"] not in ROLES:
            raise ValidationError({field: f"message {i} has role {message['role']!r}; use system, user or assistant"})
        validate_text(f"{field}[{i}].content", message["content"])
    if messages[-1]["role"] != "user":
        raise ValidationError({field: "the last message must be the user's, the turn the response answers"})
    total = sum(len(m["content"]) for m in messages)
    if total > settings.RANKWISE_MAX_TEXT_CHARS:
        raise ValidationError({field: f"the conversation is {total} characters; the limit is "
                                      f"{settings.RANKWISE_MAX_TEXT_CHARS}"})


def validate_ratings(ratings, candidate_ids):
    """Check a ranking covers each of the prompt's candidates exactly once; return {candidate id: dense tier}."""
    if not isinstance(ratings, list):
        raise ValidationError({"ratings": "must be a list with one entry per candidate"})
    expected = set(candidate_ids)
    seen = set()
    for i, rating in enumerate(ratings):
        if not isinstance(rating, dict):
            raise ValidationError({"ratings": f"entry {i} must be an object"})
        candidate = rating.get("candidate")
        if candidate in seen:
            raise ValidationError({"ratings": f"candidate {candidate} is named twice"})
        if candidate not in expected:
            raise ValidationError({"ratings": f"candidate {candidate} is not one of this prompt's candidates"})
        seen.add(candidate)
        tier, likert = rating.get("tier"), rating.get("likert")
        if not isinstance(tier, int) or isinstance(tier, bool) or not 1 <= tier <= len(expected):
            raise ValidationError({"ratings": f"candidate {candidate}: tier must be a whole number from 1 to "
                                              f"{len(expected)}"})
        if not isinstance(likert, int) or isinstance(likert, bool) or not LIKERT_MIN <= likert <= LIKERT_MAX:
            raise ValidationError({"ratings": f"candidate {candidate}: likert must be a whole number from "
                                              f"{LIKERT_MIN} to {LIKERT_MAX}"})
        flags = rating.get("flags") or []
        unknown = [f for f in flags if not isinstance(f, str) or f not in FLAGS] if isinstance(flags, list) else [flags]
        if unknown:
            raise ValidationError({"ratings": f"candidate {candidate}: unknown flags {unknown}"})
    missing = expected - seen
    if missing:
        raise ValidationError({"ratings": f"the ranking leaves out candidates {sorted(missing)}"})
    # Tiers are stored dense (1, 2, ...) so that "2 = second best group" holds whatever numbers the client used.
    return dict(zip([r["candidate"] for r in ratings], dense_tiers([r["tier"] for r in ratings])))


def validate_strength(strength, tiers):
    """A preference strength is about the top pair: one response alone in tier 1, one alone in tier 2.
    `tiers` is validate_ratings' {candidate: dense tier}."""
    if strength in ("", None):
        return ""
    if strength not in PREFERENCE_STRENGTHS:
        raise ValidationError({"strength": f"must be one of {', '.join(PREFERENCE_STRENGTHS)}"})
    counts = [list(tiers.values()).count(tier) for tier in (1, 2)]
    if counts != [1, 1]:
        raise ValidationError({"strength": "says how much the best response beats the second, so the ranking "
                                           "needs one response alone first and one alone second"})
    return strength


def validate_candidates(texts, k, field="candidates"):
    """A prompt's candidate set is exactly K responses, whatever its source (a model, an import)."""
    if not isinstance(texts, list):
        raise ValidationError({field: "must be a list of strings"})
    if len(texts) != k:
        raise ValidationError({field: f"has {len(texts)} responses; this project ranks K={k}"})
    for i, text in enumerate(texts):
        validate_text(f"{field}[{i}]", text)


def validate_reference(tiers, k, field="reference"):
    """A gold reference ranking: one tier per candidate, in candidate index order (1 = best, equal tiers are
    ties); returns the tiers made dense."""
    if not isinstance(tiers, list) or len(tiers) != k:
        raise ValidationError({field: f"must be a list of {k} tiers, one per candidate in index order"})
    for i, tier in enumerate(tiers):
        if not isinstance(tier, int) or isinstance(tier, bool) or not 1 <= tier <= k:
            raise ValidationError({field: f"candidate {i}: tier must be a whole number from 1 to {k}"})
    return dense_tiers(tiers)

