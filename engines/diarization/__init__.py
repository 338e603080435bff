"""Speaker embeddings and diarization (d-vector).

* :mod:`.dvector`: the speaker embedder (256-d d-vector, ONNX).
* :mod:`.batch`: who spoke when in a whole recording, and who said each word
  (:func:`~.batch.diarize`, :func:`~.batch.assign_speakers`).
* :mod:`.online`: per-utterance speaker labels for realtime sessions
  (:class:`~.online.OnlineSpeakerTracker`).
* :mod:`.metrics`: diarization error rate, as pyannote.metrics computes it.
* Building blocks: :mod:`.regions` (speech regions, windows), :mod:`.embedding`
  (loudness-normalised embeddings, the online tracker's masked noise floor),
  :mod:`.voicing` (the share of voiced speech in a window, to leave pauses and noises
  out), :mod:`.clustering` (numpy agglomerative and spherical k-means), :mod:`.alternation`
  (the speaker-count test for two close voices that take turns), :mod:`.timeline`
  (window votes to labelled turns).
"""
