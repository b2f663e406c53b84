# The grading service: conv1d-grader serve on port 8000, data (SQLite) in the /data volume.
#
# The sandbox isolates each submission with Linux namespaces, mounts, cgroups and rlimits, which needs root
# inside the container, five capabilities and a seccomp profile that allows its namespaces and pivot_root.
# Least privilege on a cgroup v2 host (no --privileged):
#   docker build -t conv1d-grader .
#   docker run -d -p 8000:8000 -v conv1d-data:/data -e CONV1D_TOKEN="$(openssl rand -base64 32)" \
#       --cgroupns=private \
#       --cap-drop ALL --cap-add SYS_ADMIN --cap-add SYS_CHROOT --cap-add SETUID --cap-add SETGID --cap-add KILL \
#       --security-opt seccomp=deploy/seccomp-grader.json \
#       --security-opt apparmor=unconfined \
#       --security-opt no-new-privileges \
#       conv1d-grader
# On a cgroup v1 host, --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw in place of --cgroupns=private.
# SECURITY.md ("Deployment") says what each flag is for. Without CONV1D_TOKEN the service refuses to start
# (CONV1D_DEV=1 is for development only).
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
# pyseccomp builds the sandboxes' seccomp filter through the system's libseccomp.so.2, which the Debian base
# image has (apt depends on it): the import fails the build should it ever go, rather than the grader falling
# back to its x86_64-only hand-assembled filter.
RUN pip install --no-cache-dir . \
    && python -c "import pyseccomp" \
    && rm -rf /app/grader /app/reference
# Makes the container's own cgroup v2 subtree writable (Docker mounts it read-only without --privileged).
COPY deploy/entrypoint.sh /usr/local/bin/conv1d-entrypoint

WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# No curl in the slim image: Python asks /healthz (database answers, grading workers alive).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# Root on purpose: the sandbox needs it to create namespaces, and drops each submission to an unprivileged uid.
ENTRYPOINT ["/usr/local/bin/conv1d-entrypoint"]
CMD ["conv1d-grader", "serve", "--host", "0.0.0.0", "--port", "8000"]
