"""One log format for every Modyn process."""

from __future__ import annotations

import logging
import os


def setup_logging(name: str) -> logging.Logger:
    level = os.environ.get("MODYN_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"[%(asctime)s] [{name}] [%(levelname)s] %(name)s: %(message)s",
    )
    return logging.getLogger(name)
