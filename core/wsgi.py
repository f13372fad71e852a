"""WSGI entry point for production servers: ``gunicorn 'core.wsgi:app'``.

Unlike ``create_app`` (also used by the CLI and migrations), it starts the in-process
job runner when no Redis is configured, so persisted delayed jobs run after a restart.

It also moves everything built at start-up out of the cyclic garbage collector's sight
(``gc.freeze``): a full collection otherwise walks the whole application (~150k objects,
~80 ms here), and requests that allocate many rows (availability) trigger one every few
requests, which made the slowest 10% of availability requests five times slower.
"""

import gc

from . import create_app, jobs

app = create_app()
jobs.start_worker_thread(app)
gc.collect()
gc.freeze()
