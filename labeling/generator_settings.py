"""A project's generator settings (Project.generation) as admins see and edit them.

Checked when the project is saved, by the same definition generation uses (worker.generation.settings:
plain dataclasses, no model code), so a typo is an error naming the field at once, not a failed batch
hours later.

API keys of hosted models, at the top level (one generator) or inside each entry of a `generators` list,
are write-only: no page or response shows them, not even to an admin. Leaving a key out of an edit keeps
the stored one (a listed generator's by its name), and an empty value removes it."""
from django.core.exceptions import ValidationError

SECRET_KEYS = ("api_key",)


def _entries(generation):
    """The dicts of `generation` that may hold a secret: the object itself, and each listed generator."""
    generation = generation if isinstance(generation, dict) else {}
    listed = generation.get("generators")
    return [generation, *(entry for entry in listed if isinstance(entry, dict))] if isinstance(listed, list) \
        else [generation]


def _strip(entry):
    return {key: value for key, value in entry.items() if key not in SECRET_KEYS}


def without_secrets(generation):
    stripped = _strip(generation or {})
    if isinstance(stripped.get("generators"), list):
        stripped["generators"] = [_strip(e) if isinstance(e, dict) else e for e in stripped["generators"]]
    return stripped


def has_secret(generation):
    return bool(generators_with_secrets(generation))


def generators_with_secrets(generation):
    """Names of the generators that hold a key ("default" for a single generator's settings)."""
    top, *listed = _entries(generation)
    named = [str(entry.get("name")) for entry in listed if any(entry.get(key) for key in SECRET_KEYS)]
    return (["default"] if any(top.get(key) for key in SECRET_KEYS) else []) + named


def _merge_entry(stored, edited):
    merged = dict(edited)
    for key in SECRET_KEYS:
        if key not in merged and (stored or {}).get(key):
            merged[key] = stored[key]
        elif key in merged and not merged[key]:
            del merged[key]
    return merged


def merge_secrets(stored, edited):
    """`edited` as it will be stored: a secret it leaves out keeps its stored value (a listed generator's:
    the stored generator's of the same name), an empty one is removed."""
    stored = stored if isinstance(stored, dict) else {}
    merged = _merge_entry(stored, edited)
    if isinstance(merged.get("generators"), list):
        stored_listed = stored.get("generators") if isinstance(stored.get("generators"), list) else []
        by_name = {entry.get("name"): entry for entry in stored_listed if isinstance(entry, dict)}
        merged["generators"] = [_merge_entry(by_name.get(entry.get("name")), entry) if isinstance(entry, dict)
                                else entry for entry in merged["generators"]]
    return merged


def check(generation, k):
    """Raise ValidationError({"generation": reason}) unless `generation` gives K candidates as generation
    will read it (worker.generation.generator_mix); the reason names the generator and the setting."""
    from worker.generation.settings import generator_mix  # settings only: no model code is imported

    try:
        generator_mix(generation, k)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"generation": f"{exc}."}) from None
