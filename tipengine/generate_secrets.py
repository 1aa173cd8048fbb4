"""Print fresh production secrets as .env lines: `python -m tipengine.generate_secrets >> .env`."""

import secrets

from cryptography.fernet import Fernet

# No Django here on purpose: this runs before the secrets exist, and production settings refuse to load without them.


def secret_lines() -> list[str]:
    """Return fresh SECRET_KEY, TOKEN_ENCRYPTION_KEYS (one key), LITELLM_MASTER_KEY and METRICS_TOKEN lines."""
    return [
        "# fresh secrets from `python -m tipengine.generate_secrets`: keep them out of version control",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        f"TOKEN_ENCRYPTION_KEYS={Fernet.generate_key().decode()}",
        f"LITELLM_MASTER_KEY=sk-{secrets.token_urlsafe(32)}",
        f"METRICS_TOKEN={secrets.token_urlsafe(32)}",
    ]


if __name__ == "__main__":
    print("\n".join(secret_lines()))
