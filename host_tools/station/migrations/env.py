"""Alembic's environment for the station: run on the connection host_tools.station.schema gives.

The station runs its migrations programmatically (`conc station migrate`, or opening a station
for writing); there is no alembic.ini. schema.py opens the transaction, takes the migration lock
and passes its Connection in config.attributes["connection"], so all revisions of one run
commit together or not at all.
"""
from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the station's migrations with `conc station migrate`, "
                       "not the alembic command")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
