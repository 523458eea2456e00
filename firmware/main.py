"""Boots the concentrator: `import firmware.main` (the board's /main.py, installed by
`conc flash`, does it at every reset) builds the Concentrator (firmware/concentrator.py),
keeps it as `firmware.concentrator.current` for the USB commands (firmware/usb_api.py and
firmware/usb_status.py), boots it (firmware/startup.py, unloaded afterwards to free its heap),
and runs the kernel until a Ctrl-C hands the board to the REPL.
"""
from firmware import concentrator


def main():
    c = concentrator.Concentrator()
    concentrator.current = c
    from firmware import startup
    try:
        startup.boot(c)
    except KeyboardInterrupt:
        # A `conc` command took over during the boot: an orderly stop, but only once this
        # boot has logged what ended the previous run; before that, a stop marker would hide
        # a power cut from the next boot (which now sees the same newest records we saw).
        if c.boot_recorded:
            c.stopped()
        raise
    startup = None
    concentrator.unload("firmware.startup")
    c.run()


main()
