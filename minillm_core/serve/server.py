"""`minillm-skill serve`: an OpenAI-compatible HTTP API for a trained model (chat completions, models, health).

    minillm-skill serve                      # the last run's final model on http://127.0.0.1:8000/v1
    curl localhost:8000/v1/chat/completions -d '{"model": "dpo", "messages": [{"role": "user", "content": "Hi"}]}'

Any OpenAI client works with base_url http://HOST:PORT/v1. A chat model is talked to through its chat template
(request `tools` go into it; <think> comes back as `reasoning_content`, <tool_call> blocks as `tool_calls`, which
the client runs); a pretrain model continues the last message's text. The model is loaded the way `chat` loads
it (chat.load_bot) and replies are generated the way `chat` generates them (generation.generate_reply).

Generating on one model is not thread-safe, so one worker thread does all of it, a request at a time, while the
event loop keeps answering (health, models, queued requests); a streamed reply's text passes from that thread
to its response through a queue. So that one request cannot hold the others back, a reply has a longest
length (--max-tokens) and time (--request-timeout), and a client that goes away, streamed or not, stops its
reply (worker.py). FastAPI and uvicorn are the `serve` extra, imported when the command runs.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (the request model, Request),
# which are imported inside create_app, so they must be objects rather than names to look up in this module.

import asyncio
import hmac
import json
import sys
import threading
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from minillm_core.inference.generation import GeneratedReply
from minillm_core.serve.chat import MODEL_OPTION, WORKDIR_OPTION, Bot, default_model, load_bot, note
from minillm_core.serve.worker import (
    FALLBACK_MAX_TOKENS,
    GenerationCancelled,
    Limits,
    ModelWorker,
    Prepared,
    default_max_tokens,
)
from minillm_core.util.resources import assets_dir

if TYPE_CHECKING:
    from minillm_core.serve.openai_api import ChatCompletionRequest

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
INSTALL_HINT = "pip install 'minillm-skill[serve]'"
GRACEFUL_SHUTDOWN_S = 5  # Ctrl-C: how long open requests may finish before they are cut
DEFAULT_REQUEST_TIMEOUT_S = 120.0  # far longer than a reply of the trained length takes on a CPU
# A request body's limit: 32,768 tokens of text are about 130 KB, and tools and a long history add little.
MAX_BODY_BYTES = 4 * 1024 * 1024


# --- the app ------------------------------------------------------------------------------------------


def create_app(bot: Bot, api_key: str | None = None, max_tokens: int | None = None,
               request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S) -> Any:
    """The FastAPI app serving `bot`; with `api_key`, /v1 answers only `Authorization: Bearer <api_key>`. A reply
    is at most `max_tokens` tokens (default: the length the model was trained at; worker.default_max_tokens)
    and `request_timeout` seconds."""
    from contextlib import asynccontextmanager

    from fastapi import APIRouter, Depends, FastAPI, Request

    from minillm_core.serve.openai_api import ApiError, parse_request

    worker = ModelWorker(bot, Limits(max_tokens or default_max_tokens(bot), request_timeout))

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        worker.close()

    def authorize(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise ApiError(401, "missing or wrong API key: send `Authorization: Bearer <key>` (the key given to "
                                "`minillm-skill serve --api-key` or MINILLM_API_KEY)", code="invalid_api_key")

    app = FastAPI(title="minillm-skill", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.worker = worker  # for the server to stop generation at once on Ctrl-C
    _add_error_handlers(app)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorize)] if api_key else [])

    @app.get("/", include_in_schema=False)
    async def chat_page() -> Any:  # the web chat (assets/chat.html): a page on the same API
        from fastapi.responses import HTMLResponse

        return HTMLResponse((assets_dir() / "chat.html").read_text(encoding="utf-8"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": worker.model_id, "mode": bot.mode}

    @v1.get("/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [_model_card(worker)]}

    @v1.get("/models/{model_id}")
    async def model(model_id: str) -> dict[str, Any]:
        if model_id != worker.model_id:
            raise ApiError(404, f"no model {model_id!r}; this server has {worker.model_id!r}", "model",
                           "model_not_found")
        return _model_card(worker)

    @v1.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        # Read here rather than by FastAPI, which skips JSON sent without `Content-Type: application/json`
        # (curl -d sends a form type); OpenAI's API reads the body as JSON either way.
        parsed = parse_request(await _read_body(request))
        worker.check_limits(parsed)  # at once, rather than after the requests queued before it
        return await _complete(worker, parsed, request)

    app.include_router(v1)
    return app


async def _read_body(http: Any) -> bytes:
    """The request body; ApiError (413) once it passes MAX_BODY_BYTES, so that no more of it is held. (FastAPI's
    own max_body_size answers a too long Content-Length in plain text, which no OpenAI client reads.)"""
    from minillm_core.serve.openai_api import ApiError

    too_large = ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes; send a shorter conversation",
                         code="request_too_large")
    declared = http.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in http.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large
    return bytes(body)


def _model_card(worker: ModelWorker) -> dict[str, Any]:
    created = int((worker.bot.path / "config.json").stat().st_mtime)
    return {"id": worker.model_id, "object": "model", "created": created, "owned_by": "minillm-skill"}


def _add_error_handlers(app: Any) -> None:
    """Every error in OpenAI's shape, which its clients turn into their exceptions (FastAPI's own 422 body and
    Starlette's 404/405 bodies are not)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    from minillm_core.serve.openai_api import ApiError, error_body, validation_error

    def respond(error: ApiError) -> JSONResponse:
        return JSONResponse(error_body(error.message, error.kind, error.param, error.code), status_code=error.status)

    async def api_error(_request: Any, exc: ApiError) -> JSONResponse:
        return respond(exc)

    async def invalid(_request: Any, exc: RequestValidationError) -> JSONResponse:
        return respond(validation_error(list(exc.errors())))

    async def http_error(_request: Any, exc: HTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return respond(ApiError(exc.status_code, str(exc.detail), kind=kind))

    async def crashed(_request: Any, exc: Exception) -> JSONResponse:
        return respond(ApiError(500, f"the server failed: {type(exc).__name__}: {exc}", kind="server_error"))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, crashed)


async def _complete(worker: ModelWorker, request: "ChatCompletionRequest", http: Any) -> Any:
    """The completion for `request`, sent on the connection `http` (a Starlette Request): streamed or not."""
    from fastapi.responses import StreamingResponse

    from minillm_core.serve.openai_api import (
        FINISH_REASONS,
        ApiError,
        completion_body,
        new_completion_id,
        reply_message,
        usage,
    )

    cancelled = threading.Event()  # set when the client goes: the worker skips or stops this reply
    # Prepared before any byte is sent, so that a bad request is a 4xx even when it asked for a stream.
    prepared: Prepared = await _unless_client_leaves(http, worker.call(worker.prepare, request), cancelled)
    completion_id = new_completion_id()
    if request.stream:  # the StreamingResponse watches for the client going away itself
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return StreamingResponse(_events(worker, prepared, completion_id, include_usage, cancelled),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        reply: GeneratedReply = await _unless_client_leaves(
            http, worker.call(worker.generate, prepared, lambda _text: None, cancelled), cancelled)
    except GenerationCancelled:  # the client is still there: the server is stopping
        raise ApiError(503, "the server is stopping", kind="server_error") from None
    message = reply_message(reply.answer, prepared.with_tools)
    finish = "tool_calls" if message.get("tool_calls") else FINISH_REASONS[reply.stopped_by]
    return completion_body(completion_id, worker.model_id, message, finish,
                           usage(prepared.prompt_tokens, reply.new_tokens))


async def _unless_client_leaves(http: Any, work: Awaitable[Any], cancelled: threading.Event) -> Any:
    """`work`'s result, unless the client disconnects first: then `cancelled` is set, so that the worker skips
    the reply or stops it at its next token, and a 499 (which nobody reads) ends the request."""
    from minillm_core.serve.openai_api import ApiError

    job = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(http))
    left = False
    try:
        await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not job.done():  # the client left (or this request was cancelled: the server is stopping)
            left = True
            cancelled.set()
            job.cancel()  # a job still queued never runs; a running one's result is dropped
    if left:
        raise ApiError(499, "the client closed the request")
    return job.result()


async def _disconnected(http: Any) -> None:
    """Returns once the client has gone. The body has been read, so the next message from the server is
    http.disconnect (Starlette's StreamingResponse listens for it the same way)."""
    while (await http.receive())["type"] != "http.disconnect":
        pass


def _outcome_read(future: "asyncio.Future[Any]") -> None:
    """A streamed reply whose client left ends in GenerationCancelled that nobody awaits; reading it keeps
    asyncio from logging "Future exception was never retrieved" for every client that leaves mid-stream."""
    if not future.cancelled():
        future.exception()


def _sse(body: dict[str, Any] | str) -> str:
    return f"data: {body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)}\n\n"


async def _events(worker: ModelWorker, prepared: Prepared, completion_id: str, include_usage: bool,
                  cancelled: threading.Event) -> AsyncIterator[str]:
    """The SSE stream: a role chunk, content (and reasoning) deltas as the text settles, the tool calls, the
    finish reason, optionally the usage, then [DONE]. A client that goes away cancels the generation."""
    from minillm_core.serve.openai_api import StreamSplitter, chunk_body, error_body

    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[str | None] = asyncio.Queue()

    def job() -> GeneratedReply:
        try:
            return worker.generate(prepared, lambda text: loop.call_soon_threadsafe(pieces.put_nowait, text),
                                   cancelled)
        finally:
            loop.call_soon_threadsafe(pieces.put_nowait, None)  # after every piece: the end of this reply

    future = loop.run_in_executor(worker.executor, job)
    future.add_done_callback(_outcome_read)
    splitter = StreamSplitter(prepared.with_tools)
    try:
        yield _sse(chunk_body(completion_id, worker.model_id, {"role": "assistant", "content": ""}))
        while (piece := await pieces.get()) is not None:
            for delta in splitter.feed(piece):
                yield _sse(chunk_body(completion_id, worker.model_id, delta))
        for chunk in _last_chunks(splitter, await future, prepared, completion_id, worker.model_id, include_usage):
            yield _sse(chunk)
    except GenerationCancelled:
        yield _sse(error_body("the server is stopping", "server_error"))
    except Exception as exc:  # the status line went out already: the failure can only be an event
        yield _sse(error_body(f"generation failed: {type(exc).__name__}: {exc}", "server_error"))
    finally:
        cancelled.set()  # only matters when the client left mid-stream (GeneratorExit, CancelledError)
    yield _sse("[DONE]")


def _last_chunks(splitter: Any, reply: GeneratedReply, prepared: Prepared, completion_id: str, model_id: str,
                 include_usage: bool) -> list[dict[str, Any]]:
    from minillm_core.serve.openai_api import FINISH_REASONS, chunk_body, reply_message, usage

    message = reply_message(reply.answer, prepared.with_tools)
    chunks = [chunk_body(completion_id, model_id, delta) for delta in splitter.finish(message)]
    calls = message.get("tool_calls") or []
    if calls:
        indexed = [{"index": index, **call} for index, call in enumerate(calls)]
        chunks.append(chunk_body(completion_id, model_id, {"tool_calls": indexed}))
    finish = "tool_calls" if calls else FINISH_REASONS[reply.stopped_by]
    chunks.append(chunk_body(completion_id, model_id, {}, finish))
    if include_usage:
        chunks.append(chunk_body(completion_id, model_id, None, counts=usage(prepared.prompt_tokens,
                                                                              reply.new_tokens)))
    return chunks


# --- the command --------------------------------------------------------------------------------------


def _require_web_modules() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(f"`minillm-skill serve` needs FastAPI and uvicorn, which are not installed "
                                   f"({exc.name} is missing); install them with: {INSTALL_HINT}") from None


def _run_server(app: Any, host: str, port: int, model_path: Path) -> None:
    """uvicorn, announcing the URL (the real port, also for --port 0) once the socket is bound, and stopping
    the generation under way as soon as it shuts down (else Ctrl-C would wait for a long reply to end)."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            app.state.worker.close()
            await super().shutdown(sockets=sockets)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
                shown = f"[{host}]" if ":" in host else host
                note(f"serving {model_path} at http://{shown}:{bound}/v1 (OpenAI-compatible; Ctrl-C stops)")

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    AnnouncingServer(config).run()


@click.command("serve")
@MODEL_OPTION
@WORKDIR_OPTION
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on; 0.0.0.0 makes the model reachable from other machines.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0: any free port; the line printed at start names it).")
@click.option("--api-key", envvar="MINILLM_API_KEY", metavar="KEY",
              help="Answer /v1 requests only with `Authorization: Bearer KEY` (env: MINILLM_API_KEY).")
@click.option("--mode", type=click.Choice(["auto", "chat", "completion"]), default="auto", show_default=True,
              help="chat: through the chat template; completion: continue the last message's text; auto: chat "
                   "when the tokenizer has a template.")
@click.option("--max-tokens", type=click.IntRange(min=1), metavar="N",
              help="The longest reply, in tokens; a request asking for more gets a 400 (default: the sequence "
                   f"length the model was trained at, from its folder's provenance, else {FALLBACK_MAX_TOKENS}).")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_REQUEST_TIMEOUT_S,
              show_default=True, metavar="SECONDS",
              help='Cut a reply that has generated this long (finish_reason "length"), so that no request holds '
                   "the others back.")
def serve_command(model_dir: Path | None, workdir: Path, host: str, port: int, api_key: str | None,
                  mode: str, max_tokens: int | None, request_timeout: float) -> None:
    """Serve a trained model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/models, /health)."""
    _require_web_modules()
    if api_key is not None and not api_key.strip():
        raise click.UsageError("--api-key (or MINILLM_API_KEY) is empty")
    path = (model_dir or default_model(workdir)).resolve()
    bot = load_bot(path, mode)
    if bot.mode == "completion":
        note("completion mode: each request continues its last message's text (no chat template)")
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        note(f"listening on {host} without --api-key: anyone who can reach this port can use the model")
    app = create_app(bot, api_key, max_tokens, request_timeout)
    limits = app.state.worker.limits
    note(f"a reply is at most {limits.max_tokens} tokens and {limits.request_timeout:g} s "
         "(--max-tokens, --request-timeout)")
    try:
        _run_server(app, host, port, path)
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled, once it has shut down cleanly
        note("stopped")
        sys.exit(130)
