"""Everything that runs on a PC: the `conc` CLI, simulators, the virtual board, the station."""
