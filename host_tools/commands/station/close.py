"""`conc station close`: permit a tripped meter to close again: AFN05 F2 with the PW."""
from host_tools.commands.station._relay_command import control_command

cli = control_command("close", "F2", "Permit a tripped meter to close again")
