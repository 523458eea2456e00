"""`conc station trip`: trip (disconnect) a meter's relay remotely: AFN05 F1 with the PW."""
from host_tools.commands.station._relay_command import control_command

cli = control_command("trip", "F1", "Trip (disconnect) a meter's relay remotely")
