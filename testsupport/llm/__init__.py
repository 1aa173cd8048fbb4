"""A fake Ollama for the real litellm library, the mixin that points the gateway at it, and the real LiteLLM proxy."""
