"""WSGI entry point for production servers: ``gunicorn 'core.wsgi:app'``.

Unlike ``create_app`` (also used by the CLI and migrations), it starts the in-process
job runner when no Redis is configured, so persisted delayed jobs run after a restart.
"""

from . import create_app, jobs

app = create_app()
jobs.start_worker_thread(app)
