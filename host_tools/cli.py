"""`conc`: the concentrator's host CLI.

Commands are discovered, not listed: every module in `host_tools/commands/` that defines `cli`
(a click command or group) is a subcommand named after the module, and every sub-package is a
group whose `__init__.py` docstring is its help. Only the command that runs is imported, so
`conc decode` does not pay for the station's database drivers.
"""
import importlib
import pkgutil
import sys

import click

from host_tools.errors import CliError

COMMANDS_PACKAGE = "host_tools.commands"


class LazyGroup(click.Group):
    """A click group whose subcommands are the modules of one package."""

    def __init__(self, *args, package, **kwargs):
        super().__init__(*args, **kwargs)
        self.package = package

    def _modules(self):
        pkg = importlib.import_module(self.package)
        return {name.replace("_", "-"): (name, ispkg)
                for _, name, ispkg in pkgutil.iter_modules(pkg.__path__)
                if not name.startswith("_")}

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._modules()))

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        entry = self._modules().get(cmd_name)
        if entry is None:
            return None
        name, ispkg = entry
        module = importlib.import_module("%s.%s" % (self.package, name))
        if ispkg:
            return LazyGroup(name=cmd_name, package=module.__name__, help=module.__doc__)
        return module.cli


@click.group(cls=LazyGroup, package=COMMANDS_PACKAGE,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="concentrator", prog_name="conc")
def conc():
    """Data concentrator toolkit: decode frames, read meters, simulate meters and modems,
    run a virtual board, flash and configure boards over USB, and run the master station.

    The serial port of a board can be given once in the environment as CONC_PORT.
    """


def main(argv=None):
    """Entry point: a CliError becomes a one-line message and its exit code, never a traceback."""
    try:
        conc.main(args=argv, prog_name="conc", standalone_mode=False)
    except CliError as exc:
        click.echo("Error: %s" % exc.message, err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)


if __name__ == "__main__":
    main()
