"""The helper module user scripts import as ``scriptman`` (this folder is put on their PYTHONPATH)."""

from backend.sdk.scriptman import log, param, params, progress, set_result

__all__ = ["log", "param", "params", "progress", "set_result"]
