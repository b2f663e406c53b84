# The grading service: conv1d-grader serve on port 8000, data (SQLite) in the /data volume.
#
# The sandbox isolates each submission with Linux namespaces, mounts and rlimits, which needs root inside the
# container and a seccomp profile that allows unshare/mount:
#   docker build -t conv1d-grader .
#   docker run -d -p 8000:8000 -v conv1d-data:/data -e CONV1D_TOKEN=... \
#       --cap-add SYS_ADMIN --security-opt seccomp=unconfined conv1d-grader
# (or --privileged). See SECURITY.md for what each layer does and does not stop.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONV1D_DATA=/data

WORKDIR /app

# Only what the package needs: the image holds no tests, samples or git history (see .dockerignore).
COPY pyproject.toml README.md ./
COPY grader ./grader
COPY reference ./reference
RUN pip install --no-cache-dir . \
    && rm -rf /app/grader /app/reference

WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# No curl in the slim image: Python asks /healthz (database answers, grading workers alive).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# Root on purpose: the sandbox needs it to create namespaces, and drops each submission to an unprivileged uid.
CMD ["conv1d-grader", "serve", "--host", "0.0.0.0", "--port", "8000"]
