"""A project's generator settings (Project.generation) as admins see and edit them. The API key of a
hosted model is write-only: no page or response shows it, not even to an admin; leaving it out of
an edit keeps the stored one, and an empty value removes it."""
SECRET_KEYS = ("api_key",)


def without_secrets(generation):
    return {key: value for key, value in (generation or {}).items() if key not in SECRET_KEYS}


def has_secret(generation):
    return any((generation or {}).get(key) for key in SECRET_KEYS)


def merge_secrets(stored, edited):
    """`edited` as it will be stored: a secret it leaves out keeps its stored value, an empty one is removed."""
    merged = dict(edited)
    for key in SECRET_KEYS:
        if key not in merged and (stored or {}).get(key):
            merged[key] = stored[key]
        elif key in merged and not merged[key]:
            del merged[key]
    return merged
