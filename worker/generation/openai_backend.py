"""Generation through an OpenAI-compatible HTTP server (vLLM, TGI, ...): one request per prompt with n=K.

String prompts go to `{base_url}/completions` as raw text to continue; conversations go to
`{base_url}/chat/completions`, so the server applies the chat template of the model it serves (this worker
needs no tokenizer). `base_url` includes the API prefix, as for the OpenAI client: "http://host:8000/v1".
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from worker.generation.errors import BackendRequestError, PromptTooLong
from worker.generation.prompts import check_prompts, cut_at_stop, is_conversation

# Requests in flight at once: the server batches concurrent requests, a worker need not flood it.
MAX_CONCURRENT_REQUESTS = 8

# Phrases vLLM (400) and TGI (422) use when the prompt plus max tokens overflow the context.
CONTEXT_OVERFLOW_PHRASES = ("maximum context length", "max_new_tokens` must be")


_clients: dict[tuple, httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client(timeout, headers):
    """One httpx client per (timeout, credentials), kept for the life of the process: building a client
    loads the CA bundle into a new SSL context (40-80 ms on this 2-core machine, more than the intake
    endpoint's whole budget), and a kept client also keeps its connections to the server alive. httpx
    clients are safe to share between threads."""
    key = (timeout, tuple(sorted(headers.items())))
    with _clients_lock:
        if key not in _clients:
            _clients[key] = httpx.Client(timeout=timeout, headers=headers)
        return _clients[key]


class OpenAIBackend:
    def __init__(self, settings):
        self.base_url = settings.base_url.rstrip("/")
        self.model = settings.model
        api_key = settings.api_key or os.environ.get("OPENAI_API_KEY")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @property
    def model_name(self):
        return self.model

    @property
    def revision(self):
        # The server does not report which revision of the model it serves.
        return ""

    def generate(self, prompts, k, settings):
        """K texts per prompt. Raises BackendRequestError for a failed request, PromptTooLong when the server
        says a prompt overflows the context."""
        if (settings.base_url.rstrip("/"), settings.model) != (self.base_url, self.model):
            raise ValueError(f"these settings name {settings.model} at {settings.base_url}, "
                             f"this backend talks to {self.model} at {self.base_url}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        prompts = check_prompts(prompts)
        client = shared_client(settings.timeout, self.headers)
        if len(prompts) == 1:  # the intake endpoint's case: no thread pool to start for one request
            return [self._sample(client, 0, prompts[0], k, settings)]
        with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_REQUESTS, max(len(prompts), 1))) as pool:
            return list(pool.map(
                lambda indexed: self._sample(client, indexed[0], indexed[1], k, settings), enumerate(prompts)
            ))

    def _sample(self, client, index, prompt, k, settings):
        body = {
            "model": self.model,
            "n": k,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_tokens": settings.max_new_tokens,
        }
        if settings.stop:
            body["stop"] = list(settings.stop)
        if settings.seed is not None:
            body["seed"] = settings.seed
        if settings.ignore_eos:
            body["ignore_eos"] = True  # a vLLM extension; other servers may ignore it
        if is_conversation(prompt):
            url, body["messages"] = f"{self.base_url}/chat/completions", list(prompt)
        else:
            url, body["prompt"] = f"{self.base_url}/completions", prompt

        try:
            response = client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise BackendRequestError(f"request to {url} failed: {exc!r}") from exc
        if response.status_code != 200:
            detail = response.text[:500]
            if response.status_code in (400, 422) and any(p in detail for p in CONTEXT_OVERFLOW_PHRASES):
                raise PromptTooLong(index, detail)
            raise BackendRequestError(f"{url} answered {response.status_code}: {detail}", response.status_code)

        try:
            choices = sorted(response.json()["choices"], key=lambda choice: choice["index"])
            texts = [
                choice["message"]["content"] if is_conversation(prompt) else choice["text"] for choice in choices
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendRequestError(f"{url} answered with an unexpected body: {response.text[:500]}") from exc
        if len(texts) != k or not all(isinstance(text, str) for text in texts):
            raise BackendRequestError(f"{url} returned {len(texts)} texts for prompt {index}, expected {k}")
        # Servers drop the stop string themselves; cutting again covers those that only stop after it.
        return [cut_at_stop(text, settings.stop) for text in texts]
