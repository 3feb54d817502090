"""The service's routers: :mod:`~qjax.serve.routes.jobs` (``/v1/jobs``, needs an API key),
:mod:`~qjax.serve.routes.health` (``/healthz``, ``/readyz``, ``/metrics``) and
:mod:`~qjax.serve.routes.page` (``GET /``, the status page). :func:`~qjax.serve.app.create_app`
includes them; what they share comes through :mod:`qjax.serve.dependencies`.
"""
