"""voxgate's gateway: the realtime session, its runner and transport, REST API, CLI."""

__version__ = "0.1.0"
