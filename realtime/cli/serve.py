"""``voxgate serve`` and ``voxgate worker``: run the gateway, or batch workers alone."""

from __future__ import annotations

import argparse

from realtime.cli.console import progress_bar
from realtime.cli.options import settings_from


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the gateway (under a supervisor with ``--workers`` above 1) until stopped."""
    from realtime.inference.loading import check_models
    from realtime.server.app import serve
    from realtime.server.logs import configure as configure_logging
    from realtime.server.tls import server_context

    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    server_context(settings)  # a certificate that cannot be used fails now, before the models
    check_models(settings, progress=progress_bar)
    if settings.workers > 1:
        from realtime.server.supervisor import supervise

        return supervise(settings)
    serve(settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run batch workers only (scale-out): claim jobs from the shared queue until stopped.

    Raises:
        ConfigurationError: ``--batch-workers`` is below 1.
    """
    from realtime.batch.worker import run_workers
    from realtime.inference.loading import check_models
    from realtime.server.errors import ConfigurationError
    from realtime.server.logs import configure as configure_logging

    settings = settings_from(args)
    configure_logging(settings.log_level, settings.log_format)
    if settings.batch_workers < 1:
        raise ConfigurationError("voxgate worker needs --batch-workers 1 or more")
    check_models(settings, progress=progress_bar)
    run_workers(settings)
    return 0
