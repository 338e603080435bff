"""The ``voxgate`` command line.

:mod:`~realtime.cli.main` builds the parser and runs a command; the commands live by theme in
:mod:`~realtime.cli.serve` (serve, worker), :mod:`~realtime.cli.keys`,
:mod:`~realtime.cli.offline` (models, transcribe, say) and :mod:`~realtime.cli.remote`
(listen, chat, talk), sharing :mod:`~realtime.cli.options` and :mod:`~realtime.cli.console`.
:mod:`~realtime.cli.client` is the realtime client the ``listen``, ``chat`` and ``talk`` commands use
against a running gateway.
"""
