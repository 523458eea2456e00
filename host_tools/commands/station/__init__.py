"""The master station: terminal registry, readings, events and status from its database.

The station's database is given with --db URL or once in the environment as CONC_STATION_DB:
sqlite:///station.db (the default: a file in the current folder) or
postgresql://USER:PASSWORD@HOST:PORT/DBNAME. Times are shown in the station's time zone
(CONC_STATION_TZ, e.g. Asia/Shanghai; default the computer's zone).
"""
