"""WSGI entry point (gunicorn tipengine.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipengine.settings")
application = get_wsgi_application()
