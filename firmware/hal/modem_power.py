"""The modem's power key on boards that wire it to a GPIO (SIM800 PWRKEY, Quectel PWRKEY).

    power = PowerKey(pin_number, active_low=True)     # board config "modem": "power_key"
    await power.press(kernel)     # one press toggles: on when off, off when on
    power.boot_ms                 # how long the modem takes to answer AT after switching on

The driver (firmware/modem.py) presses once at bring-up when the modem does not answer (a
board powers up with its modem off) and, to power-cycle, presses to switch off only if the
modem answers AT, then presses again to switch on.

SIM800 and Quectel modules toggle power on a PWRKEY pulse of about 1 s (SIM800 >= 1 s,
EC2x 0.5..1 s to start, >= 0.65 s to stop), then need a few seconds before they answer AT.
The virtual board has no pin: the driver uses AT+CFUN=1,1 instead (firmware/modem.py).
"""


class PowerKey:
    def __init__(self, pin, active_low=True, press_ms=1200, boot_ms=3000):
        from machine import Pin
        self.active_low = active_low
        self.pin = Pin(pin, Pin.OUT, value=1 if active_low else 0)
        self.press_ms = press_ms
        self.boot_ms = boot_ms

    async def press(self, kernel):
        """One press: switches the modem on when it is off, off when it is on."""
        self.pin.value(0 if self.active_low else 1)
        await kernel.time_dly(self.press_ms)
        self.pin.value(1 if self.active_low else 0)
