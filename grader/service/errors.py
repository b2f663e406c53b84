"""Every error the service answers with, translated once: JSON ``{"detail": "<message>"}`` and a status code."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader.errors import GraderFault, OversizedSubmission, SubmissionError

log = logging.getLogger("grader.service")


class ServiceError(Exception):
    """An error of a request, with the status and message it is answered with (and, for some, more fields and
    headers: the id in flight, ``Retry-After``)."""

    status = 400
    retry_after: int | None = None

    def __init__(self, message: str, **fields: str) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class NotFound(ServiceError):
    status = 404


class Unauthorized(ServiceError):
    status = 401


class InvalidField(ServiceError):
    status = 422


class Unavailable(ServiceError):
    status = 503


class Forbidden(ServiceError):
    status = 403


class InFlight(ServiceError):
    """A second upload while the student's previous one is queued or running."""

    status = 409


class QuotaExceeded(ServiceError):
    """The student's stored uploads would pass the storage quota."""

    status = 507


class RequestTimeout(ServiceError):
    status = 408


class RateLimited(ServiceError):
    """Too many uploads: ``retry_after`` is when the student's bucket holds a whole token again."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, fields: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": message, **(fields or {})}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        if error.get("type") == "missing" and where == "file":
            parts.append("no file: send nn.py as the multipart/form-data field `file`")
        else:
            parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    from grader.service.queue import QueueFull  # here: the pool's modules raise this module's errors

    @app.exception_handler(SubmissionError)
    async def _submission(_: Request, exc: SubmissionError) -> JSONResponse:
        return error_response(413 if isinstance(exc, OversizedSubmission) else 400, exc.message)

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return error_response(exc.status, exc.message, headers, exc.fields)

    @app.exception_handler(QueueFull)
    async def _busy(_: Request, exc: QueueFull) -> JSONResponse:
        return error_response(503, exc.message, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(GraderFault)
    async def _fault(_: Request, exc: GraderFault) -> JSONResponse:
        log.error("grader fault: %s", exc.message)
        return error_response(500, f"grader error: {exc.message}")

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal error: it has been logged")
