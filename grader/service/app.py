"""The HTTP routes. Each one only translates between HTTP and :class:`~grader.service.backend.Backend`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources
from typing import Annotated, Any

from fastapi import Cookie, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from grader.config import Config, load_config
from grader.runner import Runner
from grader.service import errors
from grader.service.backend import Backend, Caller, instructor_view
from grader.service.bodylimit import BodyLimit
from grader.service.settings import ServiceSettings
from grader.service.store import PENDING

MULTIPART_SLACK = 64 * 1024
"""Room for multipart boundaries, part headers and the student field on top of the file itself."""

Authorization = Annotated[str | None, Header(include_in_schema=False)]
LONG_POLL_SECONDS = 30.0
"""The longest ``GET /submissions/{id}?wait=`` holds a request (proxies commonly give up at 60 s)."""
STUDENT_COOKIE = "conv1d_student"
"""The personal link's token, as an HttpOnly, SameSite=Strict cookie: the page's script never holds it (an
injected script could not read it), and no other site can make a browser send it (no cross-site uploads)."""
StudentCookie = Annotated[str | None, Cookie(alias=STUDENT_COOKIE, include_in_schema=False)]
DOCS_ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
"""Swagger UI's files, served from the ``swagger-ui-py`` package: /docs works without reaching a CDN."""

# The upload's fields, shared by the default assignment's route and the named one's.
NnFile = Annotated[UploadFile, File(description="The student's nn.py")]
StudentForm = Annotated[
    str | None, Form(description="Student id, for the gradebook (development mode only; else the token's)")
]
WaitQuery = Annotated[float | None, Query(ge=0, description="Seconds to wait for the verdict (0: answer 202 at once)")]


class ErrorBody(BaseModel):
    """Every error: one message for a person."""

    detail: str


class Extension(BaseModel):
    """A student's own due dates; both None (or omitted) takes the extension back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    due: datetime | None = None
    """The student's due date, ISO 8601 with a timezone."""
    late_due: datetime | None = None
    """The student's late due date; None: the config's late window, moved with the due date."""


def _page_headers(page: str) -> dict[str, str]:
    """A CSP allowing exactly the page's own inline script and style: nothing injected could run."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    policy = (
        f"default-src 'self'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def _docs_asset(name: str) -> bytes:
    return resources.files("swagger_ui").joinpath("static", name).read_bytes()


def create_app(
    settings: ServiceSettings | None = None, *, config: Config | None = None, runner: Runner | None = None
) -> FastAPI:
    """The FastAPI app. ``runner`` defaults to the shared sandbox (:func:`grader.engine.default_runner`)."""
    settings = settings or ServiceSettings()
    config = config or load_config(settings.config)
    limit = config.limits.max_upload_bytes
    static = resources.files("grader.service").joinpath("static")
    page = static.joinpath("index.html").read_text("utf-8")
    instructor_page = static.joinpath("instructor.html").read_text("utf-8")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = Backend(settings, config, runner)
        backend.start()
        app.state.backend = backend
        try:
            yield
        finally:
            await asyncio.to_thread(backend.stop)  # joins the workers: not on the event loop

    app = FastAPI(
        title="Conv1d autograder",
        description="Hand in nn.py for Assignment 2 Part A and get per-test feedback.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below with bundled assets: FastAPI's own page loads Swagger UI from a CDN
        redoc_url=None,
    )
    errors.install(app)
    # The upload limit in force at start: a re-grade re-reads the rubric, but a new size limit needs a restart.
    app.add_middleware(
        BodyLimit,
        max_bytes=limit + MULTIPART_SLACK,
        file_limit=limit,
        paths={"/submissions", "/roster"},
        timeout=settings.body_timeout_seconds,
    )

    page_headers = _page_headers(page)
    instructor_headers = _page_headers(instructor_page)

    async def caller(request: Request, authorization: str | None, cookie: str | None) -> Caller:
        return await _backend(request).identify(authorization, cookie)

    # --- pages --------------------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=page_headers)

    @app.get("/s/", response_class=HTMLResponse, include_in_schema=False)
    async def student_page() -> HTMLResponse:
        """The students' page once the link has set its cookie (the page replaces the link in the address bar
        with this, so the token is not left on screen)."""
        return HTMLResponse(page, headers=page_headers)

    @app.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def personal_link(request: Request, token: str) -> HTMLResponse:
        """A student's personal link: the page, with the token as a cookie. Served here rather than redirected:
        a Strict cookie set on a redirect that began on another site (the email) would not be sent after it."""
        student = await asyncio.to_thread(_backend(request).store.student_for_token, token)
        response = HTMLResponse(page, status_code=200 if student else 401, headers=page_headers)
        if student is None:
            response.delete_cookie(STUDENT_COOKIE, path="/")
            return response
        response.set_cookie(
            STUDENT_COOKIE,
            token,
            max_age=180 * 86400,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get("/instructor", response_class=HTMLResponse, include_in_schema=False)
    async def instructor() -> HTMLResponse:
        return HTMLResponse(instructor_page, headers=instructor_headers)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Conv1d autograder: API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    @app.get("/docs-assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        if name not in DOCS_ASSETS:
            raise errors.NotFound("Not Found")
        body = await asyncio.to_thread(_docs_asset, name)
        return Response(body, media_type=DOCS_ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness for the container: the database commits a write, the grading workers run, and a real sandbox
        runs a trivial call (checked at most every few seconds); says the isolation it ran under."""
        return await _backend(request).health()

    # --- students -----------------------------------------------------------------------------------

    upload_responses: dict[int | str, dict[str, Any]] = {
        202: {"description": "Not graded yet (`status` queued or running): poll `GET /submissions/{id}`"},
        400: {"model": ErrorBody, "description": "Empty, binary (NUL bytes) or not UTF-8"},
        401: {"model": ErrorBody, "description": "No student token (outside development mode)"},
        404: {"model": ErrorBody, "description": "No such assignment here (see `GET /assignments`)"},
        408: {"model": ErrorBody, "description": "The body did not arrive in time"},
        409: {"description": "Your previous upload is still queued or running: `detail` and `in_flight` (its id)"},
        413: {"model": ErrorBody, "description": "Larger than the upload limit (1 MiB by default)"},
        422: {"model": ErrorBody, "description": "No `file` field, or an invalid `student`"},
        429: {"model": ErrorBody, "description": "Too many uploads: retry after `Retry-After` seconds"},
        500: {"description": "The grader failed (not the student's fault); the file is stored, with its `id`"},
        503: {"model": ErrorBody, "description": "At capacity: retry after `Retry-After` seconds"},
        507: {"model": ErrorBody, "description": "Over your storage quota"},
    }

    async def hand_in(
        request: Request,
        assignment: str | None,
        file: UploadFile,
        student: str | None,
        wait: float | None,
        authorization: str | None,
        cookie: str | None,
    ) -> JSONResponse:
        backend = _backend(request)
        who = await caller(request, authorization, cookie)
        # Bounded: the body limit already capped what was spooled; this reads one byte past the file limit at most
        # the slack, enough for the size check to name the real size.
        data = await file.read(limit + MULTIPART_SLACK + 1)
        submission_id = await backend.accept(
            data=data, filename=file.filename, student=student, caller=who, assignment=assignment
        )
        timeout = settings.wait_seconds if wait is None else min(wait, settings.wait_seconds)
        record = await backend.settled(submission_id, timeout)
        view = await backend.view_for(who, record)
        if record.state in PENDING:
            return JSONResponse(view, status_code=202, headers={"Location": f"/submissions/{submission_id}"})
        # A grader fault is HTTP 500 at this boundary (as everywhere); the body still carries the id, since the
        # file is stored and a re-grade will produce its verdict.
        return JSONResponse(view, status_code=500 if record.state == "error" else 200)

    @app.get("/assignments", tags=["students"])
    async def assignments(request: Request) -> dict[str, Any]:
        """What may be handed in here: each assignment, its questions and points; the default one first."""
        return {"assignments": _backend(request).assignments()}

    @app.post("/submissions", tags=["students"], responses=upload_responses)
    async def submit(
        request: Request,
        file: NnFile,
        student: StudentForm = None,
        wait: WaitQuery = None,
        authorization: Authorization = None,
        cookie: StudentCookie = None,
    ) -> JSONResponse:
        """Hand in nn.py for the default assignment as the student of the token (`Authorization: Bearer <token>`,
        or the personal link's cookie): the verdict (as `grade --json`, plus `id`), or 202 with the id if grading
        takes longer."""
        return await hand_in(request, None, file, student, wait, authorization, cookie)

    @app.post("/assignments/{assignment}/submissions", tags=["students"], responses=upload_responses)
    async def submit_for(
        request: Request,
        assignment: str,
        file: NnFile,
        student: StudentForm = None,
        wait: WaitQuery = None,
        authorization: Authorization = None,
        cookie: StudentCookie = None,
    ) -> JSONResponse:
        """Hand in nn.py for the named assignment (`GET /assignments` lists them), as `POST /submissions` does."""
        return await hand_in(request, assignment, file, student, wait, authorization, cookie)

    @app.get("/submissions/{submission_id}", tags=["students"], responses={404: {"model": ErrorBody}})
    async def get_submission(
        request: Request,
        submission_id: str,
        wait: Annotated[
            float, Query(ge=0, description="Seconds to wait for the verdict while it is pending (long poll)")
        ] = 0,
        authorization: Authorization = None,
        cookie: StudentCookie = None,
    ) -> Any:
        """The verdict (`queued`, `running`, then the result) of one of your submissions; with the instructor
        token, the full result of anyone's."""
        backend = _backend(request)
        who = await caller(request, authorization, cookie)  # a wrong token is refused before any lookup
        record = await backend.record_for(who, submission_id)
        if wait > 0 and record.state in PENDING:
            record = await backend.settled(submission_id, min(wait, LONG_POLL_SECONDS))
        return instructor_view(record) if who.role == "instructor" else await backend.view_for(who, record)

    @app.get("/students/me", tags=["students"], responses={401: {"model": ErrorBody}})
    async def me(
        request: Request,
        authorization: Authorization = None,
        cookie: StudentCookie = None,
        assignment: Annotated[str | None, Query(description="An assignment's name; default: the service's")] = None,
    ) -> Any:
        """Who you are, your due dates, your submissions (newest first) and the one whose score counts."""
        return await _backend(request).me(await caller(request, authorization, cookie), assignment)

    # --- instructors --------------------------------------------------------------------------------

    @app.get("/submissions", tags=["instructors"])
    async def list_submissions(
        request: Request,
        authorization: Authorization = None,
        student: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
        assignment: str | None = None,
    ) -> dict[str, Any]:
        """Submissions, newest first, optionally of one student or one assignment. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return {"submissions": await backend.listing(student, limit, assignment)}

    @app.get("/submissions/{submission_id}/file", tags=["instructors"], response_class=Response)
    async def download(request: Request, submission_id: str, authorization: Authorization = None) -> Response:
        """The stored file, as the student uploaded it. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        record, data = await backend.file(submission_id)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", record.student or "anonymous")
        return Response(
            data,
            media_type="text/x-python; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}-{record.id}.py"'},
        )

    @app.post("/submissions/{submission_id}/regrade", tags=["instructors"], status_code=202)
    async def regrade_one(request: Request, submission_id: str, authorization: Authorization = None) -> dict[str, Any]:
        """Grade one submission again under the config in force; says its score before. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.regrade_one(submission_id)

    @app.get("/gradebook.csv", tags=["instructors"], response_class=Response)
    async def gradebook(
        request: Request, authorization: Authorization = None, assignment: str | None = None
    ) -> Response:
        """One row per student: latest, best and counted submission, for one assignment (default: the service's).
        Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return Response(
            await backend.gradebook(assignment),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="gradebook.csv"'},
        )

    @app.post("/regrade", tags=["instructors"], status_code=202)
    async def regrade(request: Request, authorization: Authorization = None) -> dict[str, Any]:
        """Re-read the grading config and grade every stored submission again. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.regrade()

    @app.get("/overview", tags=["instructors"])
    async def overview(
        request: Request, authorization: Authorization = None, assignment: str | None = None
    ) -> dict[str, Any]:
        """The class, for one assignment (default: the service's): each student's counted score, the pass rate per
        test and the most common mistakes. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.overview(assignment)

    @app.post("/roster", tags=["instructors"], responses={422: {"model": ErrorBody}})
    async def import_roster(
        request: Request,
        file: Annotated[UploadFile, File(description="CSV with the columns id, name, email")],
        authorization: Authorization = None,
    ) -> dict[str, Any]:
        """Add or update students. Each new student's `token` and personal `link` are in the answer, this once
        (the database keeps only their hashes). Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        data = await file.read(limit + MULTIPART_SLACK + 1)
        return {"students": await backend.import_roster(data)}

    @app.get("/roster", tags=["instructors"])
    async def roster(request: Request, authorization: Authorization = None) -> dict[str, Any]:
        """The students, each saying whether their link works (tokens are shown only when issued)."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return {"students": await backend.roster()}

    @app.post("/roster/{student_id}/token", tags=["instructors"], responses={404: {"model": ErrorBody}})
    async def reissue(request: Request, student_id: str, authorization: Authorization = None) -> dict[str, Any]:
        """A new personal token and link for the student; the old link stops working."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.reissue(student_id)

    @app.delete("/roster/{student_id}/token", tags=["instructors"], responses={404: {"model": ErrorBody}})
    async def revoke(request: Request, student_id: str, authorization: Authorization = None) -> dict[str, Any]:
        """Revoke the student's token: their link stops working until a new one is issued."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.revoke(student_id)

    @app.post("/students/{student_id}/extension", tags=["instructors"], responses={404: {"model": ErrorBody}})
    async def extension(
        request: Request, student_id: str, body: Extension, authorization: Authorization = None
    ) -> dict[str, Any]:
        """Give the student their own due dates (both null: back to the config's)."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.extend(student_id, body.due, body.late_due)

    return app
