"""WSGI entry point for production servers: ``gunicorn 'core.wsgi:app'``.

Unlike ``create_app`` (also used by the CLI and migrations), it refuses to start a
production deployment that is not ready (:mod:`core.readiness`; gunicorn then exits
with the reason on stderr), and starts the in-process job runner when no Redis is
configured, so persisted delayed jobs run after a restart.

It also moves everything built at start-up out of the cyclic garbage collector's sight
(``gc.freeze``): a full collection otherwise walks the whole application (~150k objects,
~80 ms here), and requests that allocate many rows (availability) trigger one every few
requests, which made the slowest 10% of availability requests five times slower.
"""

import gc
import sys

from flask import g

from . import create_app, i18n, jobs, readiness

app = create_app()
with app.app_context():
    g.fulian_locale = i18n.operator_locale()  # the operator reads this, not a customer
    try:  # production refuses to serve on demo parts or half a configuration
        for line in readiness.as_text(
                [f for f in readiness.require(app) if f.level != "ok"]):
            print(line, file=sys.stderr)
    except readiness.NotReady as exc:
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
jobs.start_worker_thread(app)
gc.collect()
gc.freeze()
