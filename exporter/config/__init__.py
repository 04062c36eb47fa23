"""The exporter's settings, and loading them from flags, the environment and a .env file.

- `settings`: what the exporter runs with (`Settings`, `ApiVersion`, `LogFormat`) and how
  a problem with it is told (`ConfigError`, `Notice`).
- `options`: every setting's environment variable, flag, help, default and parser.
- `load`: `load_settings`: the sources and their precedence (flags, environment, .env file),
  secret files, and the checks that need more than one setting.

What callers use is importable from here: `from exporter.config import Settings`.
"""

from exporter.config.load import load_settings, shown_value
from exporter.config.options import ENVIRONMENT_VARIABLES, WEB_CONFIG_FILE
from exporter.config.settings import (
    DEFAULT_URL,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    PROG,
    ApiVersion,
    ConfigError,
    LogFormat,
    Notice,
    Settings,
)

__all__ = [
    "DEFAULT_URL",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "ENVIRONMENT_VARIABLES",
    "PROG",
    "WEB_CONFIG_FILE",
    "ApiVersion",
    "ConfigError",
    "LogFormat",
    "Notice",
    "Settings",
    "load_settings",
    "shown_value",
]
