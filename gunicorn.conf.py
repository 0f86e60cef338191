"""gunicorn's settings for Hummer; gunicorn reads ./gunicorn.conf.py by itself, so these hold
for `./hummer run`, the Salt `portal` formula's service (run from the checkout) and the
tests' and benches' gunicorns alike. The command line (bind, workers, threads) adds the rest.

gunicorn 25.1+ opens a control socket for `gunicornc` (show workers and config, add or kill
workers, reload, shut down) at $XDG_RUNTIME_DIR/gunicorn.ctl or else ~/.gunicorn/gunicorn.ctl,
one path per user: a second gunicorn of the same user takes the path over and removes it
when it stops, and a service user without a writable home gets a warning. Hummer uses none
of it; signals (HUP, TTIN, TTOU, TERM) manage the master as before.

post_fork sets the worker's malloc thresholds (glibc; elsewhere nothing): see _malloc_thresholds.

post_worker_init starts filling a new worker's Kubernetes caches as soon as it has loaded
the app, before its first request, and checks every project's registry pull Secret against
the credentials of its environment (in a thread: README "Pull credentials").
"""
import ctypes

control_socket_disable = True

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 8 << 20


def _malloc_thresholds():
    """Blocks under 4 MiB from malloc's heap, and up to 8 MiB of freed heap kept, not given
    back to the kernel at once. An image upload passes each MiB of the archive through a
    handful of fresh 1-2 MiB buffers (gunicorn's body reader, werkzeug's stream, tarfile,
    the chunks sent to the registry); with glibc's own thresholds most of them were new
    pages from the kernel, some 1,700 page faults a MiB and about 40% of the worker's CPU
    for an upload (tests/images/test_upload_live.py). The worker's peak RSS does not move
    (bench/registry_push.py prints it)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library to ask, or one without mallopt
        return
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def post_fork(server, worker):
    """A worker was just forked, before its threads: its malloc thresholds."""
    _malloc_thresholds()


def post_worker_init(worker):
    """A worker has loaded the app: start filling its Kubernetes caches now (watch threads
    live in the worker, not in a preloading master), so that its first app page does not
    wait for the lists. Returns at once; without a cluster it does nothing."""
    app = getattr(worker, "wsgi", None)
    if app is None or not hasattr(app, "app_context"):
        return
    from portal.services import kube_access
    from portal.services.images import pullsecrets
    kube_access.start_caches(app)
    pullsecrets.start_sweep(app)
