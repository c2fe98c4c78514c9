"""Command implementations, looked up by name from `evoforge.cli.main`."""
from .cli_inspect import cmd_best, cmd_config, cmd_evaluate, cmd_status  # noqa: F401
from .cli_run import cmd_resume, cmd_run  # noqa: F401
