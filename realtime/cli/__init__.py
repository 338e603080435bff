"""The ``voxgate`` command line.

:mod:`~realtime.cli.main` holds the commands (serve, worker, keys, models, transcribe,
listen, say, chat); :mod:`~realtime.cli.client` is the realtime client the ``listen`` and
``chat`` commands use against a running gateway.
"""
