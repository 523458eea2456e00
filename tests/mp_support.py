# Helpers for MicroPython test modules (no pytest on the board).


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception of exc_type it raised; fail if it raised none."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (fn, exc_type.__name__))


def eq(actual, expected, what=""):
    """assert actual == expected, with both values in the message."""
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def unhex(text):
    """bytes from a hex string that may contain spaces."""
    import binascii
    return binascii.unhexlify(text.replace(" ", ""))


def socket_pair():
    """A connected pair of loopback TCP sockets (accepted, client) on a free port."""
    import random
    import socket
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(50):
        port = 20000 + random.getrandbits(14)
        try:
            server.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            break
        except OSError:
            pass
    server.listen(1)
    client = socket.socket()
    client.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    accepted, _ = server.accept()
    server.close()
    return accepted, client


def ask_terminal(term, frame, clock):
    """The frames a firmware Terminal answers to the downlink `frame`, handled in a kernel of
    its own on `clock`."""
    import firmware.kernel
    from protocol import gw376
    k = firmware.kernel.Kernel(clock)
    out = []

    async def go():
        raw = gw376.build(frame)
        for reply in await term.handle(gw376.parse(raw), raw):
            out.append(gw376.parse(reply))
        k.stop()

    k.task_create(go, 5)
    term.kernel = k
    k.run(60000)
    return out
