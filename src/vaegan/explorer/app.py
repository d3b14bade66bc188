"""`vaegan serve RUN`: the latent explorer as a Starlette app, served by uvicorn (ASGI).

Routes (all decoding happens here, on the server):
    GET  /                      the page (explorer/page.html: plain HTML and JavaScript)
    GET  /api/info              the run, its image size, the sliders, how many test images
    POST /api/render            {"base": {"seed"|"test"|"upload": ...}, "sliders": {name: value}}
                                -> the decoded image (PNG)
    POST /api/upload            multipart "image" -> {"id"}: encoded, usable as a base
    GET  /api/test/N            test image N (PNG)
    POST /api/interpolate       {"a": base, "b": base, "steps": N, "mode": "linear"|"spherical"}
Bad input gets a 4xx with {"error": message}, never a 500 with a traceback.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from vaegan.explorer.space import (
    MAX_UPLOAD_BYTES,
    SLIDER_LIMIT,
    BadRequest,
    LatentSpace,
    TooLarge,
)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_JSON_BYTES = 64 * 1024  # a render or interpolation request is a few hundred bytes
DRAIN_BYTES = 64 * 2**20  # an oversized upload up to this is read and dropped before the 413


def create_app(space: LatentSpace, hosts: tuple[str, ...] = LOCAL_HOSTS) -> Starlette:
    """hosts: the Host headers answered (a page elsewhere that re-points its name at this machine,
    DNS rebinding, gets a 400); ("*",) when serving beyond this machine."""
    page = files("vaegan.explorer").joinpath("page.html").read_text()

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def info(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "run": str(space.run),
                "image_size": space.cfg.model.image_size,
                "variant": space.cfg.model.variant,
                "test_images": len(space.test_images),
                "slider_limit": SLIDER_LIMIT,
                "sliders": [{"name": d.name, "kind": d.kind} for d in space.directions.values()],
            }
        )

    async def render(request: Request) -> Response:
        body = await json_body(request)
        image = await run_in_threadpool(space.render, body.get("base"), body.get("sliders", {}))
        return Response(image, media_type="image/png")

    async def test_image(request: Request) -> Response:
        index = request.path_params["index"]
        return Response(await run_in_threadpool(space.test_image, index), media_type="image/png")

    async def interpolate(request: Request) -> Response:
        body = await json_body(request)
        args = (body.get("a"), body.get("b"), body.get("steps", 8), body.get("mode", "spherical"))
        return Response(await run_in_threadpool(space.strip, *args), media_type="image/png")

    async def upload(request: Request) -> JSONResponse:
        data, name = await read_upload(request)
        return JSONResponse({"id": await run_in_threadpool(space.upload, data, name)})

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/render", render, methods=["POST"]),
        Route("/api/test/{index:int}", test_image),
        Route("/api/interpolate", interpolate, methods=["POST"]),
        Route("/api/upload", upload, methods=["POST"]),
    ]
    handlers = {BadRequest: bad_request, HTTPException: http_error}
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))]
    return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)


async def read_upload(request: Request) -> tuple[bytes, str]:
    """The bytes and name of the multipart field "image", within the size limit."""
    if "content-length" not in request.headers:  # so that the limit holds before any reading
        raise BadRequest("an upload needs a Content-Length header")
    length = content_length(request)
    if length > MAX_UPLOAD_BYTES + 64 * 1024:  # refused unread (drained, not kept, so that the
        if length <= DRAIN_BYTES:  # browser gets the message rather than a reset connection)
            async for _ in request.stream():
                pass
        raise TooLarge(f"the upload has {length:,} bytes, more than {MAX_UPLOAD_BYTES:,}")
    form = await request.form(max_files=1, max_fields=1, max_part_size=MAX_UPLOAD_BYTES + 1)
    file = form.get("image")
    if file is None or isinstance(file, str):
        raise BadRequest('send the image as the multipart field "image"')
    return await file.read(MAX_UPLOAD_BYTES + 1), file.filename or "upload"


def content_length(request: Request) -> int:
    """The Content-Length header in bytes (0 when absent); BadRequest if it is not a number."""
    try:
        return int(request.headers.get("content-length") or 0)
    except ValueError:
        raise BadRequest("the Content-Length header is not a number") from None


async def json_body(request: Request) -> dict:
    """The request's JSON object, within MAX_JSON_BYTES; only as application/json, which a page
    of another site cannot send here without the browser asking this server first."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("send the request as application/json")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise TooLarge(f"the request has more than {MAX_JSON_BYTES:,} bytes")
    try:
        body = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON, huge integers, deep nesting
        raise BadRequest("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


async def bad_request(request: Request, err: Exception) -> JSONResponse:
    """A BadRequest as JSON {"error": message}: HTTP 413 for TooLarge, 400 otherwise."""
    status = 413 if isinstance(err, TooLarge) else 400
    return JSONResponse({"error": str(err)}, status_code=status)


async def http_error(request: Request, err: HTTPException) -> JSONResponse:
    """Starlette's own 4xx (a malformed multipart body, an unknown route) as JSON too."""
    return JSONResponse({"error": str(err.detail)}, status_code=err.status_code)


def serve(run: Path, host: str, port: int, device: str, cache_dir: Path | None) -> None:
    """Serve the explorer of `run` at http://HOST:PORT/ until Ctrl-C; bound to a loopback address,
    it answers only local Host headers."""
    import uvicorn

    from vaegan.devices import resolve_device

    space = LatentSpace(run, resolve_device(device), cache_dir)
    print(f"vaegan explorer of {run}: http://{host}:{port}/  (Ctrl-C stops it)")
    hosts = LOCAL_HOSTS if host in ("127.0.0.1", "localhost", "::1") else ("*",)
    uvicorn.run(create_app(space, hosts), host=host, port=port, log_level="warning")
