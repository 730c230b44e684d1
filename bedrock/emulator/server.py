"""HTTP front of the emulator: Bedrock Runtime's three routes plus a few control routes.

Routes (model ids in the path are URL-encoded, as botocore sends them):

- ``POST /model/{modelId}/converse``, ``/converse-stream``, ``/count-tokens``;
- the control plane's (boto3 ``bedrock``) ``POST /inference-profiles``,
  ``GET /inference-profiles[/{id}]`` and ``POST /listTagsForResource``, so a
  client pointed here with ``AWS_ENDPOINT_URL_BEDROCK`` creates application
  inference profiles that model calls then accept as ``modelId``;
- the control endpoints in ``CONTROL_ENDPOINTS`` below, which ``GET /_emulator/``
  lists with a line each (faults, latency, clock, cache inspection, stats, reset).

``serve`` blocks (the CLI and the Django command use it); ``start`` runs the
server on a background thread and returns an ``EmulatorHandle`` (tests).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from bedrock import tokenizer
from bedrock.emulator import service
from bedrock.emulator.eventstream import encode_event, encode_exception
from bedrock.emulator.faults import Faults, Latency, parse_latency
from bedrock.errors import ERROR_TYPE_SUFFIX, BedrockError, validation

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_MODEL_ROUTE = re.compile(r"^/model/([^/]+)/(converse|converse-stream|count-tokens)$")
# The control plane's (bedrock, not bedrock-runtime) inference-profile routes: see `profiles`.
_PROFILES = "/inference-profiles"
_PROFILE_ROUTE = re.compile(r"^/inference-profiles/([^/]+)$")

# (method, path, what it does): served as the index at GET /_emulator/ and printed by --help.
CONTROL_ENDPOINTS = (
    ("GET", "/_emulator/", "this list"),
    ("GET", "/_emulator/health", 'liveness: {"status": "ok"}'),
    ("GET", "/_emulator/cache", "live cache entries: model, checkpoint field, prefix tokens, TTL, expires in, hits"),
    ("GET", "/_emulator/requests", "the last 200 model requests with their checkpoints and usage"),
    ("GET", "/_emulator/stats", "request and error counts, token totals, handling time, settings"),
    ("POST", "/_emulator/faults", 'fault injection: {"throttle_rate", "error_rate", "slow_rate", "fail_next": [...]}'),
    ("POST", "/_emulator/latency", 'latency model: {"spec": "realistic"} or its fields'),
    ("POST", "/_emulator/clock", 'move the cache clock: {"advance": seconds} (TTL tests without sleeping)'),
    ("POST", "/_emulator/reset", "empty cache, stats and log; clock, faults and latency back to the start values"),
)

# Environment variables read by `main`/`options_from_env`; command-line flags override them.
ENV = {
    "host": "BEDROCK_EMULATOR_HOST",
    "port": "BEDROCK_EMULATOR_PORT",
    "latency": "BEDROCK_EMULATOR_LATENCY",
    "throttle_rate": "BEDROCK_EMULATOR_THROTTLE_RATE",
    "error_rate": "BEDROCK_EMULATOR_ERROR_RATE",
    "slow_rate": "BEDROCK_EMULATOR_SLOW_RATE",
    "slow_seconds": "BEDROCK_EMULATOR_SLOW_SECONDS",
    "seed": "BEDROCK_EMULATOR_SEED",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: service.EmulatorState):
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up mid-stream (a cancelled agent, a timed-out test) is not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s disconnected", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    server_version = "BedrockEmulator/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    timeout = 300
    server: _Server

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # -- plumbing -------------------------------------------------------------

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload, default=str).encode(), "application/json")

    def _send_error(self, error: BedrockError) -> None:
        body = json.dumps({"message": error.message}).encode()
        self._send(error.status, body, "application/json", {"x-amzn-ErrorType": error.name + ERROR_TYPE_SUFFIX})

    # -- routes ---------------------------------------------------------------

    def do_POST(self) -> None:
        raw = self._body()
        path = self.path.split("?", 1)[0]
        route = _MODEL_ROUTE.match(path)
        if route:
            self._model_call(route.group(1), route.group(2), raw)
        elif path in (_PROFILES, "/listTagsForResource"):
            self._control_plane(lambda body: self._profile_post(path, body), raw, 201 if path == _PROFILES else 200)
        elif path.startswith("/_emulator/"):
            self._control_post(path, raw)
        else:
            self._send_error(BedrockError("ResourceNotFoundException", f"No route for POST {path}"))

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        state = self.server.state
        if path in ("/_emulator", "/_emulator/"):
            index = [{"method": m, "path": p, "description": d} for m, p, d in CONTROL_ENDPOINTS]
            self._send_json(200, {"endpoints": index})
        elif path == "/_emulator/cache":
            model_id = parse_qs(query).get("model_id", [None])[0]
            self._send_json(200, service.cache_listing(state, model_id))
        elif path == "/_emulator/health":
            self._send_json(200, {"status": "ok"})
        elif path == "/_emulator/stats":
            self._send_json(200, state.snapshot())
        elif path == "/_emulator/requests":
            self._send_json(200, list(state.log))
        elif path == _PROFILES:
            kind = parse_qs(query).get("type", [None])[0]
            self._control_plane(lambda body: state.profiles.list(kind), b"", 200)
        elif _PROFILE_ROUTE.match(path):
            identifier = _PROFILE_ROUTE.match(path).group(1)
            self._control_plane(lambda body: state.profiles.get(identifier), b"", 200)
        else:
            self._send_json(404, {"message": f"No route for GET {path}"})

    def _control_post(self, path: str, raw: bytes) -> None:
        state = self.server.state
        try:
            body = json.loads(raw or b"{}")
            if path == "/_emulator/faults":
                self._send_json(200, state.faults.configure(**body).to_dict())
            elif path == "/_emulator/latency":
                state.latency = parse_latency(body.get("spec", body))
                self._send_json(200, state.latency.to_dict())
            elif path == "/_emulator/clock":
                self._send_json(200, {"offset_seconds": state.clock.advance(float(body.get("advance", 0)))})
            elif path == "/_emulator/reset":
                state.reset()
                self._send_json(200, {"status": "reset"})
            else:
                self._send_json(404, {"message": f"No route for POST {path}"})
        except (ValueError, TypeError, KeyError) as error:
            self._send_json(400, {"message": str(error)})

    def _control_plane(self, handle, raw: bytes, status: int) -> None:
        try:
            try:
                body = json.loads(raw or b"{}")
            except ValueError as error:
                raise validation(f"Request body is not valid JSON: {error}") from error
            self._send_json(status, handle(body))
        except BedrockError as error:
            self._send_error(error)

    def _profile_post(self, path: str, body: dict) -> dict:
        profiles = self.server.state.profiles
        if path == _PROFILES:
            return profiles.create(body)
        return {"tags": profiles.tags(body.get("resourceARN", ""))}

    def _model_call(self, model_id: str, operation: str, raw: bytes) -> None:
        state = self.server.state
        started = time.perf_counter()
        decision = state.faults.draw()
        if decision.delay_seconds:
            time.sleep(decision.delay_seconds)
        try:
            if decision.error and not (decision.in_stream and operation == "converse-stream"):
                raise decision.error
            try:
                body = json.loads(raw or b"{}")
            except ValueError as error:
                raise validation(f"Request body is not valid JSON: {error}") from error
            if operation == "count-tokens":
                result = service.count_tokens(model_id, body)
                state.stats.count(operation)
                self._send_json(200, result)
                return
            outcome = service.converse(state, model_id, body)
        except BedrockError as error:
            state.stats.count(operation, error.name)
            self._send_error(error)
            return
        state.stats.count(operation, decision.error.name if decision.error else None)
        latency = state.latency
        wait = latency.first_token_seconds(outcome.usage["inputTokens"] + outcome.cache.write, outcome.cache.read)
        if operation == "converse":
            if latency.enabled:
                time.sleep(wait + latency.output_seconds(outcome.reply.output_tokens))
            latency_ms = int((time.perf_counter() - started) * 1000)
            self._send_json(200, service.converse_response(outcome, latency_ms))
        else:
            self._stream(outcome, decision.error, latency, wait, started)

    def _stream(self, outcome, error: BedrockError | None, latency: Latency, wait: float, started: float) -> None:
        events = service.stream_events(outcome)
        if error is not None:
            # The request got as far as the model, which then failed mid-stream.
            frames = [encode_event(*events[0][:2]), encode_exception(error.stream_name, error.message)]
            self._send(200, b"".join(frames), "application/vnd.amazon.eventstream")
            return
        if not latency.enabled:
            frames = [encode_event(kind, payload) for kind, payload, _ in events]
            latency_ms = int((time.perf_counter() - started) * 1000)
            frames.append(encode_event("metadata", service.metadata_event(outcome, latency_ms)))
            self._send(200, b"".join(frames), "application/vnd.amazon.eventstream")
            return
        # With a latency model the events go out as they are "generated", in HTTP chunks.
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        time.sleep(wait)
        for kind, payload, tokens in events:
            if tokens:
                time.sleep(latency.output_seconds(tokens))
            self._chunk(encode_event(kind, payload))
        latency_ms = int((time.perf_counter() - started) * 1000)
        self._chunk(encode_event("metadata", service.metadata_event(outcome, latency_ms)))
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


# -- running it ------------------------------------------------------------------


class EmulatorHandle:
    """A server running on a background thread: ``url``, ``clock``, ``faults``, ``latency``, ``reset()``, ``stop()``."""

    def __init__(self, server: _Server, thread: threading.Thread):
        self._server = server
        self._thread = thread
        self.host, self.port = server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"

    @property
    def state(self) -> service.EmulatorState:
        return self._server.state

    @property
    def clock(self):
        return self.state.clock

    @property
    def cache(self):
        return self.state.cache

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @faults.setter
    def faults(self, value: Faults | dict) -> None:
        settings = value.to_dict() if isinstance(value, Faults) else dict(value)
        self.state.faults.configure(**settings)

    @property
    def latency(self) -> Latency:
        return self.state.latency

    @latency.setter
    def latency(self, value: Latency | dict | str) -> None:
        self.state.latency = value if isinstance(value, Latency) else parse_latency(value)

    @property
    def requests(self) -> list[dict]:
        """The last requests the server handled (model id, checkpoints, usage, the request itself)."""
        return list(self.state.log)

    def stats(self) -> dict:
        return self.state.snapshot()

    def reset(self) -> None:
        self.state.reset()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def make_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, latency=None, faults=None) -> _Server:
    state = service.EmulatorState(
        faults=faults if isinstance(faults, Faults) else Faults(**(faults or {})),
        latency=latency if isinstance(latency, Latency) else parse_latency(latency),
    )
    return _Server((host, port), state)


def start(host: str = DEFAULT_HOST, port: int = 0, *, latency=None, faults=None) -> EmulatorHandle:
    """Run the emulator on a background thread (port 0: a free port) and return its handle."""
    server = make_server(host, port, latency=latency, faults=faults)
    # A short poll interval so stop() (shutdown) returns at once, not after up to half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="bedrock-emulator", daemon=True)
    thread.start()
    return EmulatorHandle(server, thread)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, latency=None, faults=None, out=None) -> None:
    """Run the emulator in the foreground until interrupted; prints the URL once listening."""
    tokenizer.load()  # the vocabulary loads here, not on the first request
    server = make_server(host, port, latency=latency, faults=faults)
    bound_host, bound_port = server.server_address[:2]
    state = server.state
    out = out or sys.stdout
    for line in (
        f"Bedrock emulator listening on http://{bound_host}:{bound_port}",
        f"faults={state.faults.to_dict()} latency={state.latency.to_dict()}",
    ):
        out.write(line + "\n")
        out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def add_arguments(parser: argparse.ArgumentParser, environ=None) -> None:
    """The emulator's options; defaults come from the BEDROCK_EMULATOR_* environment variables."""
    env = os.environ if environ is None else environ

    def default(key, fallback):
        return env.get(ENV[key], fallback)

    def option(flag, key, help_text, **kwargs):
        parser.add_argument(flag, help=f"{help_text} (env {ENV[key]}; default %(default)s)", **kwargs)

    option("--host", "host", "bind address", default=default("host", DEFAULT_HOST))
    option("--port", "port", "port; 0 picks a free one", type=int, default=int(default("port", DEFAULT_PORT)))
    option(
        "--latency",
        "latency",
        "latency model: off, realistic, or key=value,... with keys "
        "base_ms, uncached_ms_per_1k, cached_ms_per_1k, output_tokens_per_s",
        default=default("latency", "off"),
    )
    option(
        "--throttle-rate",
        "throttle_rate",
        "share of model calls answered with ThrottlingException (429)",
        type=float,
        default=float(default("throttle_rate", 0)),
    )
    option(
        "--error-rate",
        "error_rate",
        "share answered with InternalServerException (500) or ServiceUnavailableException (503)",
        type=float,
        default=float(default("error_rate", 0)),
    )
    option(
        "--slow-rate",
        "slow_rate",
        "share delayed by --slow-seconds",
        type=float,
        default=float(default("slow_rate", 0)),
    )
    option(
        "--slow-seconds",
        "slow_seconds",
        "extra delay of a slow call, in seconds",
        type=float,
        default=float(default("slow_seconds", 2.0)),
    )
    seed = default("seed", None)
    option(
        "--seed",
        "seed",
        "seed of the fault generator (same seed, same faults)",
        type=int,
        default=int(seed) if seed not in (None, "") else None,
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = help_epilog()


def help_epilog() -> str:
    """Environment variables and control endpoints, for --help."""
    lines = ["environment variables (a flag overrides its variable):"]
    lines += [f"  {name}" for name in ENV.values()]
    lines += ["", "control endpoints (JSON; GET /_emulator/ lists them too):"]
    lines += [f"  {method:4} {path:20} {text}" for method, path, text in CONTROL_ENDPOINTS]
    lines += ["", "Point boto3 or Strands at it with AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://HOST:PORT."]
    return "\n".join(lines)


def run_from_options(options, out=None) -> None:
    """Start serving from parsed options (argparse namespace or dict); shared by the CLI and the Django command."""
    values = options if isinstance(options, dict) else vars(options)
    faults = {key: values[key] for key in ("throttle_rate", "error_rate", "slow_rate", "slow_seconds", "seed")}
    serve(values["host"], values["port"], latency=values["latency"], faults=faults, out=out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bedrock.emulator", description="Local Bedrock Runtime emulator")
    add_arguments(parser)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    run_from_options(options)
