"""How much a client may send, in one place: the API serializers, the admin forms and the imports
read their caps from here, so that no input is too big to check quickly or to store."""
from django.conf import settings
from django.core.exceptions import ValidationError

# time_spent_ms and similar columns are PostgreSQL `integer`s: a larger number cannot be stored.
MAX_INT32 = 2**31 - 1
MAX_MESSAGES = 50
MAX_FEW_SHOT_EXAMPLES = 20
MAX_USE_CASES = 100
# Prompt.use_case and Task.use_case are varchar(500).
MAX_USE_CASE_CHARS = 500
MAX_NOTE_CHARS = 2_000
MAX_GUIDELINES_CHARS = 100_000
MAX_NAME_CHARS = 200
# Generator settings and export options are small, flat objects; anything deeper is a mistake or an attack.
MAX_SETTINGS_DEPTH = 4
MAX_SETTINGS_ITEMS = 100
MAX_SETTINGS_STRING_CHARS = 2_000


def max_text_chars():
    return settings.RANKWISE_MAX_TEXT_CHARS


def check_no_nul(text):
    # PostgreSQL cannot store U+0000 in text or jsonb: refuse it here rather than fail at the INSERT.
    if "\x00" in text:
        raise ValidationError("must not contain NUL characters (U+0000)")


def check_settings_object(value):
    """A JSON object of settings: bounded depth, item count and string length, no NUL anywhere.
    The checks raise ValidationError with the reason; the caller names the field."""
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object")
    items = 0

    def walk(node, depth):
        nonlocal items
        if depth > MAX_SETTINGS_DEPTH:
            raise ValidationError(f"is nested deeper than {MAX_SETTINGS_DEPTH} levels")
        children = list(node.items()) if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            items += 1
            if items > MAX_SETTINGS_ITEMS:
                raise ValidationError(f"has more than {MAX_SETTINGS_ITEMS} entries")
            if isinstance(key, str):
                check_no_nul(key)
            walk(child, depth + 1)
        if isinstance(node, str):
            check_no_nul(node)
            if len(node) > MAX_SETTINGS_STRING_CHARS:
                raise ValidationError(f"has a string of {len(node)} characters; the limit is "
                                      f"{MAX_SETTINGS_STRING_CHARS}")

    walk(value, 1)
    return value


def check_use_cases(value):
    if not isinstance(value, list):
        raise ValidationError("must be a list of non-empty strings")
    if len(value) > MAX_USE_CASES:
        raise ValidationError(f"has {len(value)} entries; the limit is {MAX_USE_CASES}")
    for i, use_case in enumerate(value):
        if not isinstance(use_case, str) or not use_case.strip():
            raise ValidationError(f"entry {i} must be a non-empty string")
        check_no_nul(use_case)
        if len(use_case) > MAX_USE_CASE_CHARS:
            raise ValidationError(f"entry {i} is {len(use_case)} characters; the limit is {MAX_USE_CASE_CHARS}")
    return value
