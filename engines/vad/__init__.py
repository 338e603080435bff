"""Voice activity detection: frame scorers (Silero) and the shared hysteresis layer."""
