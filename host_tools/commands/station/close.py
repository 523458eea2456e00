"""`conc station close`: Permit a tripped meter to close again: AFN05 F2 with the terminal's PW."""
import click

from host_tools.commands.station._common import db_option, tz_option
from host_tools.commands.station._control import control_options, give_and_follow


@click.command()
@control_options
@db_option
@tz_option
def cli(meter, operator, reason, wait_s, pickup_timeout_s, as_json, db_url, zone):
    """Permit a tripped meter to close again: AFN05 F2 with the terminal's PW.

    The command is written to the station database with your name and carried out by the
    running `conc station serve` (which must use the same --db): it sends AFN05 F2 for the
    meter's measuring point, then follows the concentrator's report of the meter's relay state
    (ERC 60) until it confirms or the station gives up. Every step is printed as it lands in
    the audit trail (`conc station commands --steps` shows it later). Exit status 0 only when
    the relay state was confirmed.

    \b
    Example:
      conc station close --meter 000000000001 --operator alice --reason "ticket 4711"
      conc station close --meter 4101-1:3
    """
    give_and_follow("close", meter, operator, reason, wait_s, pickup_timeout_s, as_json,
                    db_url, zone)
