"""The dashboard's own HTTP endpoints, served beside Streamlit by `st.App` (dashboard.py).

Streamlit talks to the browser over its WebSocket and cannot set a cookie or check one on a file
request; these small Starlette routes do what it cannot:

    POST /api/session          trade the one-time grant of a sign-in for the HttpOnly session cookie
    POST /api/session/end      revoke the cookie's session server-side and clear the cookie (sign-out)
    GET  /api/videos/{id}      the surgeon's video (its browser-playable proxy when there is one), with
                               HTTP ranges, only with the owner's session cookie: 401 without one,
                               404 for a video that is not the cookie owner's (same as a missing one)
    GET  /api/videos/{id}/thumbnail                   its thumbnail, the same way
    GET  /api/results/{id}/csv|json|vtt|overlay       a result's timeline CSV, JSON, subtitles and overlay
                               video (exports.py), the same way
    POST /api/uploads/check    an upload's name, size and first megabyte, refused before the rest is sent
    POST /api/uploads          the upload itself, streamed to disk, then stored (uploads.py)

The pages use these instead of Streamlit's /media/ files (which Streamlit serves by content hash to anyone
who holds the URL), so no surgeon's file goes through /media/ under `halsted serve`. A middleware still
answers 401 to any /media/ request without a live session cookie.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.errors import HalstedError
from . import exports, uploads, web_sessions
from .service import Platform
from .errors import NotFoundError
from .storage import safe_filename, too_large
from .settings import Settings

NO_STORE = {"Cache-Control": "no-store", "Vary": "Cookie"}


@lru_cache(maxsize=1)
def _platform(_key: str) -> Platform:
    return Platform(Settings.from_env())


def platform() -> Platform:
    # One per process and configuration (the key), like app.py's cached one.
    return _platform(f"{os.environ.get('HALSTED_DATA_DIR')}|{os.environ.get('HALSTED_DATABASE_URL')}")


def _same_origin(request: Request) -> bool:
    """A state-changing request must come from the dashboard's own pages (CSRF; SameSite=Strict
    cookies are the other half)."""
    origin = request.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == request.headers.get("host")


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


async def claim_session(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("cross-site request refused", status_code=403, headers=NO_STORE)
    grant = (await request.body())[:200].decode("ascii", "replace").strip()
    claimed = web_sessions.claim(platform().Session, grant, request.cookies.get(web_sessions.DEVICE_COOKIE))
    if claimed is None:
        return PlainTextResponse("unknown or expired sign-in: sign in again", status_code=403, headers=NO_STORE)
    token, device, max_age = claimed
    response = Response(status_code=204, headers=NO_STORE)
    _cookie(response, request, web_sessions.SESSION_COOKIE, token, max_age)
    _cookie(response, request, web_sessions.DEVICE_COOKIE, device, int(web_sessions.DEVICE_TTL.total_seconds()))
    return response


async def end_session(request: Request) -> Response:
    if not _same_origin(request):
        return PlainTextResponse("cross-site request refused", status_code=403, headers=NO_STORE)
    found = web_sessions.surgeon_for(platform().Session, request.cookies.get(web_sessions.SESSION_COOKIE))
    if found is not None:
        web_sessions.revoke(platform().Session, found[1])
    response = Response(status_code=204, headers=NO_STORE)
    response.delete_cookie(web_sessions.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def video(request: Request) -> Response:
    found = platform().session_from_cookie(request.cookies.get(web_sessions.SESSION_COOKIE))
    if found is None:
        return PlainTextResponse("sign in to watch this video", status_code=401, headers=NO_STORE)
    me, _ = found
    try:
        record = me.get_video(int(request.path_params["video_id"]))
    except (NotFoundError, ValueError):
        return PlainTextResponse("no such video in your library", status_code=404, headers=NO_STORE)
    path = record.playable_path
    if not path.is_file():
        return PlainTextResponse("the video's file is missing", status_code=404, headers=NO_STORE)
    # private: a shared cache must never hand one surgeon's video to another
    return FileResponse(path, headers={"Cache-Control": "private, no-store", "Vary": "Cookie"})


def _owner(request: Request):
    """The SurgeonSession of the request's live session cookie, or None."""
    found = platform().session_from_cookie(request.cookies.get(web_sessions.SESSION_COOKIE))
    return None if found is None else found[0]


def _attachment(name: str) -> str:
    # RFC 6266: a name with anything but plain ASCII (quotes, line breaks, non-Latin letters) is sent encoded
    plain = quote(name, safe=" !#$&+-.^_`|~()[]{}',;=@")
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename*=utf-8''{quote(name, safe='')}"


PRIVATE = {"Cache-Control": "private, no-store", "Vary": "Cookie"}  # a shared cache must never hand them on


async def thumbnail(request: Request) -> Response:
    me = _owner(request)
    if me is None:
        return PlainTextResponse("sign in to see this file", status_code=401, headers=NO_STORE)
    try:
        path = me.get_video(int(request.path_params["video_id"])).thumbnail
    except (NotFoundError, ValueError):
        path = None
    if path is None or not path.is_file():
        return PlainTextResponse("no such video in your library", status_code=404, headers=NO_STORE)
    return FileResponse(path, media_type="image/jpeg", headers=PRIVATE)


async def result_file(request: Request) -> Response:
    """A result's CSV, JSON, subtitles or overlay video (exports.py), only to its owner: 401 without a live
    session, 404 for a result that is not the cookie owner's (as for one that does not exist)."""
    me = _owner(request)
    if me is None:
        return PlainTextResponse("sign in to download this file", status_code=401, headers=NO_STORE)
    kind = request.path_params["kind"]
    try:
        rv = me.review(int(request.path_params["result_id"])) if kind in exports.KINDS else None
    except (NotFoundError, ValueError):
        rv = None
    if rv is None:
        return PlainTextResponse("no such result among yours", status_code=404, headers=NO_STORE)
    disposition = {"Content-Disposition": _attachment(exports.file_name(rv, kind))} if kind != "vtt" else {}
    if kind == "overlay":
        path = exports.overlay_path(me.platform.settings, rv)
        if not path.is_file():
            return PlainTextResponse("render the overlay on the Review page first", status_code=404, headers=NO_STORE)
        return FileResponse(path, media_type="video/mp4", headers={**PRIVATE, **disposition})
    text, media_type = exports.content(rv, kind)
    return Response(text.encode("utf-8"), media_type=media_type, headers={**PRIVATE, **disposition})


def _upload_target(request: Request):
    """(surgeon, file name, declared size) of an upload request, or an error response."""
    if not _same_origin(request):
        return PlainTextResponse("cross-site request refused", status_code=403, headers=NO_STORE)
    me = _owner(request)
    if me is None:
        return PlainTextResponse("sign in to upload videos", status_code=401, headers=NO_STORE)
    size = request.query_params.get("size", "")
    return me, safe_filename(request.query_params.get("name")), int(size) if size.isdigit() else None


def _refused(me, name: str, err: HalstedError, status: int = 422) -> Response:
    kind, line = uploads.outcome(name, error=err)
    uploads.notices.add(me.id, kind, line)
    return PlainTextResponse(line, status_code=status, headers=NO_STORE)


async def upload_check(request: Request) -> Response:
    """Step 1 of an upload (uploads.py): its name, size and first megabyte, before the rest is sent."""
    target = _upload_target(request)
    if isinstance(target, Response):
        return target
    me, name, size = target
    head = bytearray()
    async for chunk in request.stream():  # at most one megabyte is kept, whatever is sent
        head += chunk[:uploads.HEAD_BYTES - len(head)]
        if len(head) >= uploads.HEAD_BYTES:
            break
    try:
        await run_in_threadpool(uploads.check, me.platform.settings, name, size, bytes(head))
    except HalstedError as err:
        return _refused(me, name, err)
    return PlainTextResponse("ok", headers=NO_STORE)


async def upload(request: Request) -> Response:
    """Step 2: the file, written to disk as it arrives (never held in memory), checked again, then stored."""
    target = _upload_target(request)
    if isinstance(target, Response):
        return target
    me, name, size = target
    settings = me.platform.settings
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=settings.tmp_dir)
    try:
        head, written, checked = bytearray(), 0, False
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                written += len(chunk)
                if written > settings.max_upload_bytes:
                    raise too_large(name, settings)
                if not checked:
                    head += chunk[:uploads.HEAD_BYTES - len(head)]
                    if len(head) >= uploads.HEAD_BYTES:
                        await run_in_threadpool(uploads.check, settings, name, size, bytes(head))
                        checked = True
                out.write(chunk)
        if not checked:  # a file shorter than the probe
            await run_in_threadpool(uploads.check, settings, name, size, bytes(head))
        video = await run_in_threadpool(me.upload_video, part, name)
    except HalstedError as err:
        return _refused(me, name, err)
    except ClientDisconnect:  # the browser went away: nothing is kept
        return PlainTextResponse("upload interrupted", status_code=400, headers=NO_STORE)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    kind, line = uploads.outcome(name, video=video)
    uploads.notices.add(me.id, kind, line)
    return PlainTextResponse(line, headers=NO_STORE)


class MediaNeedsSession:
    """ASGI middleware: /media/ (Streamlit's in-memory files) only for a live session cookie."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/media/"):
            token = Request(scope).cookies.get(web_sessions.SESSION_COOKIE)
            if web_sessions.surgeon_for(platform().Session, token) is None:
                refusal = PlainTextResponse("sign in to see this file", status_code=401, headers=NO_STORE)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


routes = [
    Route("/api/session", claim_session, methods=["POST"]),
    Route("/api/session/end", end_session, methods=["POST"]),
    Route("/api/videos/{video_id}", video, methods=["GET", "HEAD"]),
    Route("/api/videos/{video_id}/thumbnail", thumbnail, methods=["GET", "HEAD"]),
    Route("/api/results/{result_id}/{kind}", result_file, methods=["GET", "HEAD"]),
    Route("/api/uploads/check", upload_check, methods=["POST"]),
    Route("/api/uploads", upload, methods=["POST"]),
]
