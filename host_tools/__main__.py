"""`python -m host_tools`: the `conc` CLI, where the console script is not on PATH."""
from host_tools.cli import main

main()
