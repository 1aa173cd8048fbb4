"""LLM tip generation through the LiteLLM gateway, by alias only."""
