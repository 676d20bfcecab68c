"""The OpenAI-compatible chat endpoint: POST /v1/chat/completions with `Authorization: Bearer <token>`.

It answers with the API user's project generator (the one the request's `model` names, else the first) and,
with the user's consent, masks the conversation and stores it as a pending filing for the project's pool
(intake.filing: the deduplication, the cap and the prompt's writes run in a Celery task, off the response
path). Errors come in
OpenAI's shape, {"error": {"message", "type", "param", "code"}}, so OpenAI clients show them as they are.
The `X-Rankwise-Intake` header says what happened to the prompt (queued, no_consent, refused_personal_data,
not_queued); `Server-Timing` gives the generator's time.
"""
import json
import time
import uuid
from dataclasses import replace

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from intake import filing
from intake.models import ApiUser, token_digest
from labeling.generator_settings import generator_mix
from labeling.validation import validate_messages
from worker.generation import BackendRequestError, GenerationError, PromptTooLong, get_backend


class ApiError(Exception):
    def __init__(self, status, message, *, param=None, code=None, kind="invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def response(self):
        return JsonResponse({"error": {"message": self.message, "type": self.kind, "param": self.param,
                                       "code": self.code}}, status=self.status)


# Token digest -> (time.monotonic() deadline, ApiUser), this process's recent lookups (see known_api_user).
_known_tokens = {}
MAX_KNOWN_TOKENS = 10_000


def known_api_user(token):
    """The active API user of `token`, read from the database at most once per
    RANKWISE_INTAKE_TOKEN_CACHE_SECONDS in this process. The lookup, with Django's connection health check
    before it, is two round trips to PostgreSQL: most of the endpoint's own time once the filing left the
    response path, and several milliseconds each on a busy machine. So a revoked token, withdrawn consent or
    changed generator settings take effect within that time; the filing task reads consent again from the
    locked row, so nothing is filed once consent is withdrawn. Unknown tokens are not remembered."""
    digest, now = token_digest(token), time.monotonic()
    known = _known_tokens.get(digest)
    if known is not None and known[0] > now:
        return known[1]
    api_user = ApiUser.objects.by_token(token)
    seconds = settings.RANKWISE_INTAKE_TOKEN_CACHE_SECONDS
    if api_user is not None and seconds:
        if len(_known_tokens) >= MAX_KNOWN_TOKENS:
            _known_tokens.clear()
        _known_tokens[digest] = (now + seconds, api_user)
    return api_user


def authenticate(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing API token: send the header 'Authorization: Bearer <token>'.",
                       code="missing_api_key", kind="authentication_error")
    api_user = known_api_user(token.strip())
    if api_user is None:
        raise ApiError(401, "Invalid API token (unknown or revoked).", code="invalid_api_key",
                       kind="authentication_error")
    return api_user


def read_body(request):
    limit = settings.RANKWISE_INTAKE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "The Content-Length header is not a number.") from None
    # Refused from the header before the body is read, and again after, for a body sent without one.
    if declared > limit or len(body := request.body) > limit:
        raise ApiError(413, f"The request body is {max(declared, len(request.body))} bytes; the limit is {limit}.",
                       code="request_too_large")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.", code="invalid_json")
    return data


def as_text(content, index):
    """A message's content: a string, or OpenAI's list of parts, of which text parts only."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(part["text"] for part in content)
    raise ApiError(400, f"messages[{index}].content must be a string or a list of text parts.",
                   param=f"messages[{index}].content")


def conversation(data):
    messages = data.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise ApiError(400, "messages must be a non-empty list of {role, content} objects.", param="messages")
    messages = [{"role": m.get("role"), "content": as_text(m.get("content"), i)} for i, m in enumerate(messages)]
    try:
        validate_messages(messages)
    except ValidationError as exc:
        ((param, reasons),) = exc.message_dict.items()
        raise ApiError(400, f"{param} {reasons[0]}.", param=param) from None
    return messages


def number(data, name, low, high, kind=float):
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)) \
            or not low <= value <= high:
        raise ApiError(400, f"{name} must be a {'whole ' if kind is int else ''}number from {low} to {high}.",
                       param=name)
    return kind(value)


def chosen_generator(api_user, data):
    """The project generator the request's `model` names (the first when it names none), with the request's
    sampling parameters within the generator's own limits."""
    project = api_user.project
    try:
        generators = generator_mix(project.generation, project.k)
    except ValueError as exc:
        raise ApiError(503, f"The project's generator settings are not usable: {exc}.", kind="server_error",
                       code="generator_misconfigured") from None
    model = data.get("model")
    if model not in (None, ""):
        named = [g for g in generators if g.name == model]
        if not named:
            raise ApiError(404, f"The model {model!r} does not exist here; use one of "
                                f"{', '.join(g.name for g in generators)}.", param="model", code="model_not_found")
        generators = named
    if number(data, "n", 1, 1, int) is None and "n" in data:
        raise ApiError(400, "n must be 1.", param="n")
    if not isinstance(data.get("stream", False), bool):
        raise ApiError(400, "stream must be true or false.", param="stream")
    generator = generators[0]
    sampling = generator.sampling
    overrides = {"temperature": number(data, "temperature", 0, 2), "top_p": number(data, "top_p", 0.0001, 1),
                 "max_new_tokens": number(data, "max_tokens", 1, sampling.max_new_tokens, int)}
    return generator, replace(sampling, **{k: v for k, v in overrides.items() if v is not None})


def load_backend(sampling):
    try:
        return get_backend(sampling)
    except Exception as exc:  # a bad model path, a corrupt file: the admin's settings, not the caller's request
        raise ApiError(503, f"The project's generator cannot be loaded: {exc}.", kind="server_error",
                       code="generator_unavailable") from None


def generate(backend, sampling, messages):
    try:
        (texts,) = backend.generate([messages], 1, sampling)
        return texts[0]
    except PromptTooLong as exc:
        raise ApiError(400, f"The conversation is too long for the model: {str(exc).partition(': ')[2]}.",
                       param="messages", code="context_length_exceeded") from None
    except BackendRequestError as exc:
        raise ApiError(502, f"The generation server failed: {exc}.", kind="server_error") from None
    except (GenerationError, MemoryError) as exc:
        raise ApiError(503, f"Generation failed: {exc}.", kind="server_error") from None


def stream_events(completion_id, created, model, text):
    """Server-sent events as OpenAI streams them: the role, the text in pieces, the finish, [DONE]."""
    def chunk(delta, finish=None):
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for start in range(0, len(text), 16):
        yield chunk({"content": text[start:start + 16]})
    yield chunk({}, "stop")
    yield "data: [DONE]\n\n"


class Laps:
    """Milliseconds spent in each part of a call, for the Server-Timing header: the generator's own time,
    and what the proxy adds around it (the token lookup, reading and checking the request, the intake)."""

    def __init__(self):
        self.parts, self.last = {}, time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.parts[name] = (now - self.last) * 1000
        self.last = now

    def header(self):
        return ", ".join(f"{name};dur={ms:.2f}" for name, ms in self.parts.items())


@login_not_required  # the API token is the login: no session, no redirect to a login page
@csrf_exempt  # token-authenticated, no cookies: no cross-site request can carry the credential
def chat_completions(request):
    laps = Laps()
    try:
        if request.method != "POST":
            raise ApiError(405, "Use POST.", code="method_not_allowed")
        api_user = authenticate(request)
        laps.lap("auth")
        data = read_body(request)
        messages = conversation(data)
        generator, sampling = chosen_generator(api_user, data)
        backend = load_backend(sampling)
        laps.lap("request")
        text = generate(backend, sampling, messages)
        laps.lap("generation")
    except ApiError as error:
        return error.response()
    outcome = filing.accept(api_user, messages)
    laps.lap("intake")
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if data.get("stream"):
        response = StreamingHttpResponse(stream_events(completion_id, created, generator.name, text),
                                         content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
    else:
        response = JsonResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": generator.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        })
    response["X-Rankwise-Intake"] = outcome.value
    response["Server-Timing"] = laps.header()
    return response
