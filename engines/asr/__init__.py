"""Speech recognition engines (faster-whisper) and the incremental stabiliser."""
