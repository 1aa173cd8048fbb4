"""Settings of the floor benchmark (bench/floor.py): the app's own, with the floor views routed."""

from tipengine.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
