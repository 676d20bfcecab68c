"""A project's generator settings (Project.generation): what they mean, and how admins see and edit them.

One definition for every reader. The project checks its settings with it when it is saved, so a typo is an
error naming the field at once, not a failed batch hours later; the generation worker and the intake
endpoint sample with it (`generator_mix`). Plain dataclasses: reading settings loads no model code.

API keys of hosted models, at the top level (one generator) or inside each entry of a `generators` list,
are write-only: no page or response shows them, not even to an admin. Leaving a key out of an edit keeps
the stored one (a listed generator's by its name), and an empty value removes it."""
from dataclasses import asdict, dataclass, field, fields

from django.core.exceptions import ValidationError

BACKENDS = ("transformers", "openai")
SECRET_KEYS = ("api_key",)
DEFAULT_GENERATOR = "default"


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample candidates: what a backend needs, stored as JSON next to each candidate.

    `model` is a local folder or a hub id (with `revision`), and for GGUF weights `gguf_file` names the file in
    it; an empty `model` means the offline SmolLM2 that the generation worker bundles. For the "openai"
    backend `model` is the name the server knows the model by. `temperature=0` means greedy decoding.
    `seed=None` samples differently on every call; a seed makes each candidate reproducible. `ignore_eos`
    always produces exactly `max_new_tokens` (stop strings still apply): meant for benchmarks.
    """

    backend: str = "transformers"
    model: str = ""
    revision: str | None = None
    gguf_file: str | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0

    def __post_init__(self):
        self._check_types()
        # Stop strings arrive as a JSON list; a tuple keeps the settings hashable and immutable.
        object.__setattr__(self, "stop", tuple(self.stop))
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; expected one of {', '.join(BACKENDS)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"stop must be a list of non-empty strings, got {list(self.stop)!r}")
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError("the openai backend needs base_url and model")

    def _check_types(self):
        """Settings arrive as JSON an admin typed: name the field whose value has the wrong type, rather
        than fail later in a comparison or inside a backend. A secret's value is never echoed."""
        for name, kinds in FIELD_TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                shown = "" if name in SECRET_KEYS else f", got {value!r}"
                raise ValueError(f"{name} must be {FIELD_TYPE_NAMES[name]}{shown}")
        if not 0 < self.timeout <= 3600:
            raise ValueError(f"timeout must be in (0, 3600] seconds, got {self.timeout}")

    def to_dict(self):
        """JSON-ready dict. The API key is left out: these settings are stored on every candidate."""
        data = asdict(self)
        data["stop"] = list(self.stop)
        for key in SECRET_KEYS:
            del data[key]
        return data

    @classmethod
    def from_dict(cls, data):
        """Inverse of `to_dict`; missing keys take their defaults, unknown keys are an error (likely a typo)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown sampling settings: {', '.join(sorted(unknown))}")
        return cls(**data)


# What each setting's JSON value may be; a bool is no number here, though Python counts it as an int.
FIELD_TYPES = {
    "backend": (str,), "model": (str,), "revision": (str, type(None)), "gguf_file": (str, type(None)),
    "temperature": (int, float), "top_p": (int, float), "max_new_tokens": (int,), "seed": (int, type(None)),
    "stop": (list, tuple), "ignore_eos": (bool,), "base_url": (str, type(None)), "api_key": (str, type(None)),
    "timeout": (int, float),
}
FIELD_TYPE_NAMES = {
    "backend": "a string", "model": "a string", "revision": "a string or null", "gguf_file": "a string or null",
    "temperature": "a number", "top_p": "a number", "max_new_tokens": "a whole number",
    "seed": "a whole number or null", "stop": "a list of strings", "ignore_eos": "true or false",
    "base_url": "a string or null", "api_key": "a string or null", "timeout": "a number of seconds",
}


@dataclass(frozen=True)
class Generator:
    """One of a project's generators: its name (recorded on each candidate it writes, never shown to
    labelers), how many of a prompt's K candidates it writes, and its sampling settings."""

    name: str
    candidates: int
    sampling: SamplingSettings


def generator_mix(generation, k):
    """The generators that write a prompt's K candidates, from a project's generator settings.

    Either one generator's settings (the whole object: it writes all K, named "default"), or
    {"generators": [{"name": ..., "candidates": n, <settings>}, ...]}: each writes its `candidates` of the K
    (they must add up to K); where none says how many, the K are shared out in turn (K=4 over two models:
    2 and 2; over three: 2, 1, 1). Raises ValueError naming the problem."""
    generation = dict(generation or {})
    if "generators" not in generation:
        return [Generator(DEFAULT_GENERATOR, k, SamplingSettings.from_dict(generation))]
    listed = generation.pop("generators")
    if generation:
        raise ValueError(f"with a generators list, settings go inside each generator: {', '.join(sorted(generation))}")
    if not isinstance(listed, list) or not listed or not all(isinstance(g, dict) for g in listed):
        raise ValueError("generators must be a non-empty list of objects")
    names = [g.get("name") for g in listed]
    if not all(isinstance(n, str) and n.strip() for n in names) or len(set(names)) != len(names):
        raise ValueError("every generator needs a name, and names must differ")
    counts = [g.get("candidates") for g in listed]
    if all(c is None for c in counts):
        counts = [k // len(listed) + (i < k % len(listed)) for i in range(len(listed))]
    elif not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts) or sum(counts) != k:
        raise ValueError(f"the generators' candidates must be whole numbers adding up to K={k}, got {counts}")
    mix = []
    for spec, count in zip(listed, counts):
        settings = {key: value for key, value in spec.items() if key not in ("name", "candidates")}
        try:
            sampling = SamplingSettings.from_dict(settings)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"generator {spec['name']!r}: {exc}") from None
        if count:
            mix.append(Generator(spec["name"], count, sampling))
    return mix


def check(generation, k):
    """Raise ValidationError({"generation": reason}) unless `generation` gives K candidates as generation
    will read it (`generator_mix`); the reason names the generator and the setting."""
    try:
        generator_mix(generation, k)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"generation": f"{exc}."}) from None


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
    return ([DEFAULT_GENERATOR] if any(top.get(key) for key in SECRET_KEYS) else []) + named


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
