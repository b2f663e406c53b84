"""The grading web service: students hand in over HTTP, instructors read the gradebook.

``create_app`` builds the FastAPI app (tests inject a runner); ``serve`` runs it under uvicorn for
``conv1d-grader serve``.
"""

from grader.service.app import create_app
from grader.service.serve import serve

__all__ = ["create_app", "serve"]
