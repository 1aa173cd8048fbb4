"""Todoist: encrypted tokens, token status, the API client, OAuth and webhooks."""
