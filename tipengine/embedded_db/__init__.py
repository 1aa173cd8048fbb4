"""The embedded PostgreSQL used when DATABASE_URL is unset: a database backend that starts its server on first use."""
