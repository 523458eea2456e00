"""Hardware abstraction: the only firmware package that may touch machine, esp32, pyb, termios
or sockets. Everything above it takes streams, block devices and clocks as arguments."""
