"""`conc station users`: the station's users and their roles (viewer, clerk, cashier,
dispatcher, admin).

\b
The first user of a new database is created without --user and must be an admin:
  conc station users add admin --role admin
After that only an admin adds users; everyone may change their own password.
"""
import os

import click
from sqlalchemy import func, select

from host_tools.business import audit
from host_tools.business import users as users_lib
from host_tools.business.tables import ROLES
from host_tools.business.tables import users as users_table
from host_tools.commands.station._business import (business_db, emit, login, now,
                                                   output_options, show_at, user_option)
from host_tools.commands.station._common import db_option, tz_option
from host_tools.errors import EXIT_BAD_INPUT, CliError

ENV_NEW_PASSWORD = "CONC_STATION_NEW_PASSWORD"


@click.group()
def cli():
    """Station users, roles and passwords (argon2id hashes; never shown)."""


def _new_password(name):
    password = os.environ.get(ENV_NEW_PASSWORD)
    if password is None:
        password = click.prompt("New password for %s" % name, hide_input=True,
                                confirmation_prompt=True, err=True)
    return password


@cli.command()
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--full-name", default="", help="Shown in the console and the audit log.")
@user_option
@db_option
def add(name, role, full_name, user_name, db_url):
    """Add user NAME with a role; the password is asked twice (or taken from
    CONC_STATION_NEW_PASSWORD). On a database without users, this creates the first admin
    and needs no --user.

    \b
    Examples:
      conc station users add admin --role admin
      conc station users add li --role cashier --full-name "Li Na" --user admin
    """
    with business_db(db_url, create=True) as engine:
        with engine.connect() as conn:
            first = conn.execute(select(func.count()).select_from(users_table)).scalar() == 0
        if first:
            if role != "admin":
                raise CliError("the first user must be an admin: --role admin", EXIT_BAD_INPUT)
            admin = None
        else:
            admin = login(engine, user_name)
            users_lib.require(admin, "user.manage")
        password = _new_password(name)
        with engine.begin() as conn:
            if conn.execute(select(users_table.c.id).where(users_table.c.name == name)).first():
                raise CliError("user %s exists already" % name, EXIT_BAD_INPUT)
            created = users_lib.add_user(conn, name, password, role, now(), full_name)
            audit.record(conn, admin, "user.add", "user:%s" % name, now(), role=role)
    click.echo("user %s added with role %s" % (created.name, created.role))


@cli.command("list")
@output_options
@user_option
@db_option
@tz_option
def list_(as_json, as_csv, user_name, db_url, zone):
    """List the users (needs an admin).

    \b
    Example:
      conc station users list --user admin --json
    """
    with business_db(db_url) as engine:
        admin = login(engine, user_name)
        users_lib.require(admin, "user.manage")
        with engine.connect() as conn:
            found = conn.execute(select(users_table).order_by(users_table.c.name)).all()
    emit(["name", "role", "full name", "active", "locked until", "created"],
         [[u.name, u.role, u.full_name, "yes" if u.active else "no",
           show_at(u.locked_until, zone), show_at(u.created_at, zone)] for u in found],
         [{"name": u.name, "role": u.role, "full_name": u.full_name, "active": bool(u.active),
           "locked_until": u.locked_until, "created_at": u.created_at} for u in found],
         as_json, as_csv)


@cli.command()
@click.argument("name")
@user_option
@db_option
def passwd(name, user_name, db_url):
    """Change NAME's password: your own (log in as NAME), or anyone's as an admin. The new
    password is asked twice (or taken from CONC_STATION_NEW_PASSWORD); it also unlocks.

    \b
    Example:
      conc station users passwd li --user admin
    """
    with business_db(db_url) as engine:
        me = login(engine, user_name or name)
        if me.name != name:  # pyright: ignore[reportOptionalMemberAccess] - the signed-in user exists
            users_lib.require(me, "user.manage")
        with engine.connect() as conn:
            if not conn.execute(select(users_table.c.id).where(users_table.c.name == name)
                                ).first():
                raise CliError("no user %s: see `conc station users list`" % name,
                               EXIT_BAD_INPUT)
        password = _new_password(name)
        with engine.begin() as conn:
            users_lib.set_password(conn, name, password, now())
            audit.record(conn, me, "user.passwd", "user:%s" % name, now())
    click.echo("password of %s changed" % name)
