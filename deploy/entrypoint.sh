#!/bin/sh
# The container's entrypoint: make the container's own cgroup v2 subtree writable, then run the command.
#
# On a cgroup v2 host Docker gives a container a private cgroup namespace (--cgroupns=private, the default
# there) and mounts its /sys/fs/cgroup read-only unless --privileged. That mount shows only the container's
# own subtree, so remounting this one mount point read-write (a per-mount flag: the host's hierarchy is
# untouched and stays out of sight) lets the grader delegate groups to its sandboxes (SECURITY.md, Cgroups)
# without --privileged. Needs CAP_SYS_ADMIN and a profile that allows mount, which the sandbox needs anyway.
#
# Only at the root of a private cgroup namespace ("0::/"): with --cgroupns=host the mount would be the host's
# whole hierarchy, which is not the container's to write. Where the remount fails the grader still runs and
# every report names the missing cgroups and the fix.
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ ! -w /sys/fs/cgroup/cgroup.procs ] \
    && [ "$(cat /proc/self/cgroup)" = "0::/" ]; then
    mount -o remount,bind,rw /sys/fs/cgroup \
        || echo "conv1d-grader: /sys/fs/cgroup stays read-only: no cgroups for the sandboxes (see SECURITY.md)" >&2
fi
exec "$@"
