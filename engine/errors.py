"""Errors a user can act on, defined once.

Every class here is a `TunelensError`: its message is one line that says what is wrong and where
(file, line, key) where that is known. The command line catches `TunelensError` once and prints
it without a traceback; any other exception is a bug.
"""

from __future__ import annotations


class TunelensError(Exception):
    """Bad input or an environment problem, phrased as one line for the user."""


class UsageError(TunelensError):
    """Command-line arguments that do not fit together."""


class ConfigError(TunelensError, ValueError):
    """A models.toml problem."""


class SourceError(TunelensError, RuntimeError):
    """A model file that cannot be found, fetched or trusted."""


class ModelLoadError(TunelensError, RuntimeError):
    """A GGUF that llama.cpp could not load."""


class ServerError(ModelLoadError):
    """A serving engine that cannot be reached, refuses a request or answers in another shape."""


class StreamBroken(ServerError):
    """The connection dropped while an answer was streaming (the request may be asked again)."""


class CapabilityError(TunelensError, ValueError):
    """A feature the model's engine cannot provide (token shift on a server without logprobs)."""


class PromptTooLong(TunelensError, ValueError):
    """A prompt that does not fit the context: that answer cannot be made, the run goes on."""


class PromptError(TunelensError, ValueError):
    """A prompt that cannot be rendered (bad template, unknown mode)."""


class DatasetError(TunelensError, ValueError):
    """A dataset that could not be loaded; the message names the file and what was wrong."""


class PerturbationError(TunelensError, ValueError):
    """An unknown perturbation or a malformed perturbation spec."""


class GradeInputError(TunelensError, ValueError):
    """A malformed record to grade: "FILE:LINE: what is wrong"."""


class StoreError(TunelensError, RuntimeError):
    """A results-store problem (locked, not a tunelens store, a refused statement)."""


class ShiftError(TunelensError, RuntimeError):
    """Token shift cannot be computed for this pair or these answers."""


class GraderError(TunelensError, ValueError):
    """An unknown grader name; the message lists the graders there are."""
