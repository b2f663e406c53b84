# The grading service: conv1d-grader serve on port 8000, data (SQLite) in the /data volume.
#
# The sandbox isolates each submission with Linux namespaces, mounts, cgroups and rlimits, which needs root
# inside the container and seccomp/AppArmor profiles that allow unshare, mount and pivot_root:
#   docker build -t conv1d-grader .
#   docker run -d -p 8000:8000 -v conv1d-data:/data -e CONV1D_TOKEN="$(openssl rand -base64 32)" \
#       --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#       -v /sys/fs/cgroup:/sys/fs/cgroup:rw conv1d-grader
# (or --privileged on a host dedicated to grading). SECURITY.md ("Deployment") is the reference for these.
# Without CONV1D_TOKEN the service refuses to start (CONV1D_DEV=1 is for development only).
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
