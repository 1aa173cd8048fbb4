"""Test support for the Todoist integration: a fake Todoist HTTP server others can reuse."""
