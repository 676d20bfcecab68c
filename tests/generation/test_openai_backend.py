"""The OpenAI-compatible backend against a small real HTTP server on 127.0.0.1, started per test."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labeling.generator_settings import SamplingSettings
from worker.generation import BackendRequestError, PromptTooLong, generate, get_backend


class FakeServer:
    """Answers /v1/completions and /v1/chat/completions with n numbered texts, and records each request.
    A prompt containing "FAIL" gets a 500, one containing "LONG" vLLM's context-length 400."""

    def __init__(self):
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append((self.path, dict(self.headers), body))
                text = body.get("prompt") or body["messages"][-1]["content"]
                if "FAIL" in text:
                    return self.answer(500, {"error": {"message": "engine crashed"}})
                if "LONG" in text:
                    return self.answer(400, {"object": "error", "message": "This model's maximum context length "
                                             "is 2048 tokens. However, you requested 4000 tokens."})
                # Choices in reverse order: the backend must order them by index.
                numbers = reversed(range(body["n"]))
                if self.path == "/v1/completions":
                    choices = [{"index": i, "text": f" {text} #{i}\nUser: more", "finish_reason": "stop"}
                               for i in numbers]
                else:
                    choices = [{"index": i, "message": {"role": "assistant", "content": f"reply {i} to {text}"},
                                "finish_reason": "stop"} for i in numbers]
                self.answer(200, {"id": "x", "model": body["model"], "choices": choices})

            def answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with FakeServer() as running:
        yield running


def openai_settings(server, **overrides):
    return SamplingSettings(**{"backend": "openai", "model": "served-model", "base_url": server.url,
                               "api_key": "token-1", "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 32,
                               "seed": 5, "stop": ["\nUser:"], "timeout": 10, **overrides})


def test_completions_with_n_k_and_the_sampling_fields(server):
    settings = openai_settings(server)

    texts = generate(["First prompt", "Second prompt"], 3, settings)

    assert texts == [[" First prompt #0", " First prompt #1", " First prompt #2"],
                     [" Second prompt #0", " Second prompt #1", " Second prompt #2"]]
    assert len(server.requests) == 2
    for path, headers, body in server.requests:
        assert path == "/v1/completions"
        assert headers["Authorization"] == "Bearer token-1"
        assert body == {"model": "served-model", "prompt": body["prompt"], "n": 3, "temperature": 0.7,
                        "top_p": 0.9, "max_tokens": 32, "stop": ["\nUser:"], "seed": 5}
    assert sorted(body["prompt"] for _, _, body in server.requests) == ["First prompt", "Second prompt"]


def test_conversations_go_to_chat_completions(server):
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye?"}]
    backend = get_backend(openai_settings(server, stop=[], seed=None))

    texts = backend.generate([conversation], 2, openai_settings(server, stop=[], seed=None))

    assert texts == [["reply 0 to Bye?", "reply 1 to Bye?"]]
    [(path, _, body)] = server.requests
    assert path == "/v1/chat/completions"
    assert body["messages"] == conversation and body["n"] == 2
    assert "stop" not in body and "seed" not in body
    assert (backend.model_name, backend.revision) == ("served-model", "")


def test_a_server_error_is_reported_with_its_status(server):
    with pytest.raises(BackendRequestError) as error:
        generate(["ok", "FAIL please"], 2, openai_settings(server))
    assert error.value.status == 500
    assert "500" in str(error.value) and "engine crashed" in str(error.value)


def test_a_context_overflow_names_the_prompt(server):
    with pytest.raises(PromptTooLong) as error:
        generate(["ok", "fine", "LONG one"], 2, openai_settings(server))
    assert error.value.prompt_index == 2
    assert "maximum context length" in str(error.value)


def test_an_unreachable_server_is_a_request_error():
    with FakeServer() as stopped:
        url = stopped.url
    settings = SamplingSettings(backend="openai", model="m", base_url=url, timeout=2)
    with pytest.raises(BackendRequestError) as error:
        generate(["hello"], 2, settings)
    assert error.value.status is None
