#!/usr/bin/env python
"""Django's command-line utility for tipengine."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from tipengine.env import settings_error_line

    try:
        _ = settings.INSTALLED_APPS  # loads the settings: a missing or malformed variable is one line, not a traceback
    except ImproperlyConfigured as error:
        sys.exit(f"manage.py: {settings_error_line(error)}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
