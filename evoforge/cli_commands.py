"""Command implementations, looked up by name from `evoforge.cli.main`."""
from .cli_evaluate import cmd_evaluate  # noqa: F401
from .cli_inspect import cmd_best, cmd_config, cmd_status  # noqa: F401
from .cli_problems import cmd_problems  # noqa: F401
from .cli_run import cmd_resume, cmd_run  # noqa: F401
from .cli_ui import cmd_report, cmd_ui  # noqa: F401
from .export import cmd_export  # noqa: F401
