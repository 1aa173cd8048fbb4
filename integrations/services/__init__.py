"""Integration services: the writes (the stored token, OAuth, the open-task reads that fill their cache)."""
