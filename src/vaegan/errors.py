"""The one exception family that the CLI turns into a clear message instead of a traceback."""


class VaeganError(Exception):
    """Bad input from a user: a file, a config or a command-line value. The message names it."""


class ConfigError(VaeganError):
    pass


class DataError(VaeganError):
    pass


class CheckpointError(VaeganError):
    pass


class TrainingDiverged(VaeganError):
    pass
