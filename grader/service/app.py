"""The HTTP routes. Each one only translates between HTTP and :class:`~grader.service.backend.Backend`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from grader.config import Config, load_config
from grader.runner import Runner
from grader.service import errors
from grader.service.backend import Backend, instructor_view, public_view
from grader.service.bodylimit import BodyLimit
from grader.service.settings import ServiceSettings
from grader.service.store import PENDING

MULTIPART_SLACK = 64 * 1024
"""Room for multipart boundaries, part headers and the student field on top of the file itself."""

Authorization = Annotated[str | None, Header(include_in_schema=False)]


class ErrorBody(BaseModel):
    """Every error: one message for a person."""

    detail: str


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
    return request.app.state.backend  # type: ignore[no-any-return]


def create_app(
    settings: ServiceSettings | None = None, *, config: Config | None = None, runner: Runner | None = None
) -> FastAPI:
    """The FastAPI app. ``runner`` defaults to the shared sandbox (:func:`grader.engine.default_runner`)."""
    settings = settings or ServiceSettings()
    config = config or load_config(settings.config)
    limit = config.limits.max_upload_bytes
    page = resources.files("grader.service").joinpath("static/index.html").read_text("utf-8")

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
    )
    errors.install(app)
    # The upload limit in force at start: a re-grade re-reads the rubric, but a new size limit needs a restart.
    app.add_middleware(BodyLimit, max_bytes=limit + MULTIPART_SLACK, file_limit=limit, paths={"/submissions"})

    page_headers = _page_headers(page)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=page_headers)

    @app.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> dict[str, Any]:
        """Liveness for the container: the database commits a write, the grading workers run, and a real sandbox
        runs a trivial call (checked at most every few seconds); says the isolation it ran under."""
        return await _backend(request).health()

    @app.post(
        "/submissions",
        tags=["students"],
        responses={
            202: {"description": "Not graded yet (`status` queued or running): poll `GET /submissions/{id}`"},
            400: {"model": ErrorBody, "description": "Empty, binary (NUL bytes) or not UTF-8"},
            413: {"model": ErrorBody, "description": "Larger than the upload limit (1 MiB by default)"},
            422: {"model": ErrorBody, "description": "No `file` field, or an invalid `student`"},
            500: {"description": "The grader failed (not the student's fault); the file is stored, with its `id`"},
            503: {"model": ErrorBody, "description": "At capacity: retry after `Retry-After` seconds"},
        },
    )
    async def submit(
        request: Request,
        file: Annotated[UploadFile, File(description="The student's nn.py")],
        student: Annotated[str | None, Form(description="Student id, for the gradebook")] = None,
    ) -> JSONResponse:
        """Grade nn.py: the verdict (as `grade --json`, plus `id`), or 202 with the id if grading takes longer."""
        backend = _backend(request)
        # Bounded: the body limit already capped what was spooled; this reads one byte past the file limit at most
        # the slack, enough for the size check to name the real size.
        data = await file.read(limit + MULTIPART_SLACK + 1)
        submission_id = await backend.accept(data=data, filename=file.filename, student=student)
        record = await backend.settled(submission_id, settings.wait_seconds)
        if record.state in PENDING:
            return JSONResponse(
                public_view(record), status_code=202, headers={"Location": f"/submissions/{submission_id}"}
            )
        # A grader fault is HTTP 500 at this boundary (as everywhere); the body still carries the id, since the
        # file is stored and a re-grade will produce its verdict.
        return JSONResponse(public_view(record), status_code=500 if record.state == "error" else 200)

    @app.get("/submissions/{submission_id}", tags=["students"], responses={404: {"model": ErrorBody}})
    async def get_submission(request: Request, submission_id: str, authorization: Authorization = None) -> Any:
        """The verdict (`queued`, `running`, then the result); with the instructor token, the full result."""
        backend = _backend(request)
        instructor = backend.is_instructor(authorization)  # a wrong token is refused before any lookup
        record = await backend.record(submission_id)
        return instructor_view(record) if instructor else public_view(record)

    @app.get("/submissions", tags=["instructors"])
    async def list_submissions(
        request: Request,
        authorization: Authorization = None,
        student: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> dict[str, Any]:
        """Submissions, newest first, optionally of one student. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return {"submissions": await backend.listing(student, limit)}

    @app.get("/gradebook.csv", tags=["instructors"], response_class=Response)
    async def gradebook(request: Request, authorization: Authorization = None) -> Response:
        """One row per student: latest and best submission. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return Response(
            await backend.gradebook(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="gradebook.csv"'},
        )

    @app.post("/regrade", tags=["instructors"], status_code=202)
    async def regrade(request: Request, authorization: Authorization = None) -> dict[str, Any]:
        """Re-read the grading config and grade every stored submission again. Instructor token required."""
        backend = _backend(request)
        backend.require_instructor(authorization)
        return await backend.regrade()

    return app
