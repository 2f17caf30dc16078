"""User-facing errors: each carries one line that names the file, line or key
and what was expected. The CLI prints it and exits with status 2."""


class CachesimError(Exception):
    """Bad input or bad usage; the message is one line meant for the user."""


class ConfigError(CachesimError):
    pass


class TraceError(CachesimError):
    pass
