"""The one exception family that the CLI turns into a clear message instead of a traceback."""


class VaeganError(Exception):
    """Bad input from a user: a file, a config or a command-line value. The message names it."""


class ConfigError(VaeganError):
    """A config file, preset, --set or flag value that is invalid or contradicts another."""


class DataError(VaeganError):
    """A data set's files are missing, unreadable or malformed, or hold too few images."""


class CheckpointError(VaeganError):
    """A run, checkpoint, eval.json or attribute-vector file that is missing, unreadable or belongs
    to another model."""


class TrainingDiverged(VaeganError):
    """A loss or weight became NaN or inf, or the data-parallel ranks' copies came apart."""
