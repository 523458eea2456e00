"""The `conc` subcommands, one module each (see host_tools/cli.py)."""
