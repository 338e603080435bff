"""Speaker embeddings and diarization (d-vector)."""
