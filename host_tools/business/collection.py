"""The collection tables the business rules read or write, as lightweight SQLAlchemy constructs.

Revision 0001 owns these tables (host_tools/station/schema.py); only the columns business code
uses are named here, so this module describes no schema and creates nothing.
`commands.user_id` is the column revision 0002_business adds: the authenticated user who gave
a remote-control command.
"""
from sqlalchemy import column, table

terminals = table("terminals", column("id"), column("area_code"), column("address"),
                  column("name"))

measuring_points = table("measuring_points", column("terminal_id"), column("pn"),
                         column("meter_address"), column("integer_digits"),
                         column("decimal_digits"))

daily_frozen = table("daily_frozen", column("terminal_id"), column("pn"), column("item"),
                     column("day"), column("value"), column("scale"))

monthly_frozen = table("monthly_frozen", column("terminal_id"), column("pn"), column("item"),
                       column("month"), column("value"), column("scale"))

commands = table("commands", column("id"), column("terminal_id"), column("terminal_label"),
                 column("pn"), column("meter_address"), column("kind"), column("operator"),
                 column("reason"), column("parameters"), column("state"), column("created_at"),
                 column("updated_at"), column("finished_at"), column("user_id"))

command_steps = table("command_steps", column("id"), column("command_id"), column("at"),
                      column("step"), column("outcome"), column("detail"))
