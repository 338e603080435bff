"""Speech engines behind small synchronous Protocols (see :mod:`engines.base`).

Engines know nothing of WebSockets or HTTP. Heavy models load once; each session opens a
cheap stream; every method may block and is meant to run on a worker thread.
"""
