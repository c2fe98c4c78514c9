"""The sandbox: run an untrusted command under limits, in the strongest isolation available.

See docs/security.md for what each isolation mode guarantees.
"""
from .env import clean_env
from .isolation import available_modes, resolve
from .process import Sandbox, SandboxProcess
from .result import RunResult, SandboxError

__all__ = ["Sandbox", "SandboxProcess", "RunResult", "SandboxError", "clean_env", "available_modes", "resolve"]
