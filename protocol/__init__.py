"""OpenAI Realtime protocol events as typed pydantic models (GA and beta dialects). No I/O."""
