"""Every cache key generation uses: the cached pool, the refresh lock, the pool-forgotten mark, the breaker."""


def pool_key(user_id: int) -> str:
    """The user's fresh candidate pool, as serving reads it (generation.selectors.fresh_pool); v2: rows of fields."""
    return f"tips:pool:v2:{user_id}"


def pool_refresh_lock_key(user_id: int) -> str:
    """Held by the one refresh of the user's pool that may run (generation.services.pool_refresh)."""
    return f"generation:pool-refresh:{user_id}"


def pool_forgotten_key(user_id: int) -> str:
    """When the user's pool was last forgotten: a refresh that started before it stores nothing."""
    return f"generation:pool-forgotten:{user_id}"


def breaker_key(name: str, part: str) -> str:
    """One part (`failures`, `tripped`, `probe`, `open_until`) of the circuit breaker `name`'s shared state."""
    return f"generation:breaker:{name}:{part}"
