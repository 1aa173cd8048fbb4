"""Logging filters named in settings.LOGGING."""

import logging


class AsWarningWithoutTraceback(logging.Filter):
    """Log a record at WARNING, with no traceback: for a client's mistake that Django reports as an ERROR.

    Django logs a bad Host header (DisallowedHost) at ERROR with its traceback, a dozen lines for something the
    client did and nothing on our side can fix; the 400 it answers is the whole story.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
