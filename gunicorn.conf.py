"""gunicorn's settings for Hummer; gunicorn reads ./gunicorn.conf.py by itself, so these hold
for `./hummer run`, the Salt `portal` formula's service (run from the checkout) and the
tests' and benches' gunicorns alike. The command line (bind, workers, threads) adds the rest.

gunicorn 25.1+ opens a control socket for `gunicornc` (show workers and config, add or kill
workers, reload, shut down) at $XDG_RUNTIME_DIR/gunicorn.ctl or else ~/.gunicorn/gunicorn.ctl,
one path per user: a second gunicorn of the same user takes the path over and removes it
when it stops, and a service user without a writable home gets a warning. Hummer uses none
of it; signals (HUP, TTIN, TTOU, TERM) manage the master as before.

post_worker_init starts filling a new worker's Kubernetes caches as soon as it has loaded
the app, before its first request, and checks every project's registry pull Secret against
the credentials of its environment (in a thread: README "Pull credentials").
"""
control_socket_disable = True


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
