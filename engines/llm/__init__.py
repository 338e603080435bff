"""Language models run in-process (llama.cpp through xllamacpp)."""
