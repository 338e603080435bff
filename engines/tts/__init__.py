"""Speech synthesis engines (Piper, hibari)."""
