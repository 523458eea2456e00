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
    # One handler from the boot to the end of the kernel's run: a Ctrl-C that lands anywhere in
    # between (unloading startup collects the heap, which takes a while on a loaded host) must
    # still end in an orderly stop, or the next boot logs a power cut that never happened.
    try:
        startup.boot(c)
        startup = None
        concentrator.unload("firmware.startup")
        c.kernel.run()
    except KeyboardInterrupt as exc:
        # A `conc` command took over: the stop marker. No branch before the call (a second
        # Ctrl-C pending would be raised there): stopped() looks at c.boot_recorded itself.
        c.stopped(exc)
        raise


main()
