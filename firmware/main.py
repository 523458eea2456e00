"""Boots the concentrator: `import firmware.main` (the board's /main.py, installed by
`conc flash`, does it at every reset) builds the Concentrator (firmware/concentrator.py),
keeps it as `firmware.concentrator.current` for the USB commands (firmware/usb_api.py and
firmware/usb_status.py), boots it (firmware/startup.py, unloaded afterwards to free its heap),
and runs the kernel until a Ctrl-C hands the board to the REPL (Concentrator.run).
"""
from firmware import concentrator


def boot(c):
    from firmware import startup
    startup.boot(c)
    startup = None
    concentrator.unload("firmware.startup")


def main():
    c = concentrator.Concentrator()
    concentrator.current = c
    c.run(boot)


main()
