"""Realtime sessions, hosted independently of the transport that carries them.

:mod:`~realtime.hosting.host` admits sessions, keeps the registry and shuts them down;
:mod:`~realtime.hosting.hosted` runs one session beside its transport's channel (the
contract in :mod:`~realtime.hosting.channel`); :mod:`~realtime.hosting.runner` executes the
session's commands on the engines.
"""
