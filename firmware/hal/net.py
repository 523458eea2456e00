"""A plain TCP link to the master station, for boards on Wi-Fi or Ethernet and the virtual board.

It has the modem driver's interface (firmware/modem.py), so the link layer does not know which
one it drives:

    net = SocketLink(kernel)
    reason = await net.start(apn)          # None: nothing to bring up (the network is the OS's)
    ok = await net.open(host, port)
    ok = await net.send(data, size=None)
    n = await net.recv(buf, timeout_ms)    # > 0 bytes, 0 nothing in time, -1 closed
    await net.close(); await net.power_cycle()   # close only: there is no modem to reset
    net.connected

The socket is non-blocking after the connect; waits are kernel I/O waits, so an idle link
costs nothing but its poll registration.
"""
import errno
import socket

from firmware.kernel import OS_IO_READ, OS_IO_WRITE

# errno numbers differ between ports (Linux on the unix port, lwIP/newlib on ESP32): by name
_EAGAIN = (errno.EAGAIN, errno.EINPROGRESS, getattr(errno, "EALREADY", errno.EAGAIN))
_FAILED = (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, errno.ECONNRESET,
           errno.ECONNABORTED) + _EAGAIN


class SocketLink:
    def __init__(self, kernel, connect_timeout_s=20):
        self.k = kernel
        self.sock = None
        self.connected = False
        self.connect_timeout_s = connect_timeout_s
        self.csq = None
        self.stats = {"bytes_sent": 0, "bytes_received": 0, "closed": 0, "connects": 0}

    async def start(self, apn=None):
        return None

    async def open(self, host, port):
        await self.close()
        # A non-blocking connect and a kernel wait: an unreachable station (SYN timeout) must
        # not stop the meter pollers for the connect timeout.
        try:
            addr = socket.getaddrinfo(host, port)[0][-1]
            sock = socket.socket()
            sock.setblocking(False)
        except OSError:
            return False
        try:
            sock.connect(addr)
        except OSError as exc:
            if not (exc.args and exc.args[0] in _EAGAIN):
                sock.close()
                return False
            await self.k.io_wait(sock, OS_IO_WRITE, self.connect_timeout_s * 1000)
            self.k.io_forget(sock)
            try:
                sock.connect(addr)          # a second call says how it went (EISCONN: up)
            except OSError as exc2:
                if not exc2.args or exc2.args[0] in _FAILED:
                    sock.close()
                    return False
        self.sock = sock
        self.connected = True
        self.stats["connects"] += 1
        return True

    async def send(self, data, size=None):
        if size is None:
            size = len(data)
        if not self.connected:
            return False
        view = memoryview(data)
        sent = 0
        while sent < size:
            try:
                n = self.sock.send(view[sent:size])  # pyright: ignore[reportOptionalMemberAccess] - only called while connected
            except OSError as exc:
                if exc.args and exc.args[0] in _EAGAIN:
                    await self.k.io_wait(self.sock, OS_IO_WRITE, 5000)
                    continue
                self._lost()
                return False
            sent += n or 0
        self.stats["bytes_sent"] += size
        return True

    async def recv(self, buf, timeout_ms):
        if not self.connected:
            return -1
        for attempt in range(2):
            try:
                n = self.sock.readinto(buf)  # pyright: ignore[reportOptionalMemberAccess] - only called while connected
            except OSError as exc:
                if not (exc.args and exc.args[0] in _EAGAIN):
                    self._lost()
                    return -1
                n = None
            if n is None:                           # nothing waiting
                if attempt or timeout_ms <= 0:
                    return 0
                await self.k.io_wait(self.sock, OS_IO_READ, timeout_ms)
                continue
            if n == 0:                              # the peer closed
                self._lost()
                return -1
            self.stats["bytes_received"] += n
            return n
        return 0

    def _lost(self):
        if self.connected:
            self.stats["closed"] += 1
        self.connected = False

    async def poll_data(self):
        pass

    async def close(self):
        if self.sock is not None:
            self.k.io_forget(self.sock)
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.connected = False

    async def shutdown(self):
        await self.close()

    async def power_cycle(self):
        await self.close()
