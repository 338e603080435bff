"""Helpers shared by the tests and the benchmarks.

* :mod:`testkit.loadgen`: voxgate served in this process on a loopback port, and the load
  drivers (concurrent realtime sessions, bursts of batch jobs, task and thread baselines).
* :mod:`testkit.chat_endpoint`: a scripted OpenAI-compatible Chat Completions endpoint on a
  loopback port, the stand-in LLM of the ``llm`` responder's tests and benchmarks.
* :mod:`testkit.wer`: the word error rate, with the normalisation every test and benchmark
  uses.

Imported by ``tests/`` and ``bench/``; imports neither. Needs the dev extras (``openai``,
``jiwer``).
"""
