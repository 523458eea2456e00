"""A protocol-level test master station: the station side of Q/GDW 1376.1 over TCP, for tests.

    master = TestMaster().start()          # listens on 127.0.0.1:<master.port>
    master.wait_login(timeout)             # True once a terminal logged in
    replies = master.request(frame, timeout)   # send a downlink request, collect its reply frames
    master.records                         # seq -> (type, point, time, payload), uploads received
    master.arrivals                        # seq -> times it arrived in a frame we confirmed
    master.confirm_uploads = False         # stop confirming uploads (the terminal must resend)
    master.drop_all = True                 # answer nothing at all (a dead station)
    master.disconnect()                    # drop the terminal's connection
    master.stop()

It confirms logins, heartbeats and logouts (AFN00 F1, C = 0B) and every upload with CON set
(AFN00 F1 with RSEQ = the upload's PSEQ), and decodes uploads with protocol.gw376_upload so a
test can count lost and duplicated records by their identity.
"""
import socket
import threading
import time

from protocol import gw376
from protocol.gw376_deframer import Deframer
from protocol.gw376_upload import upload_identity


class TestMaster:
    __test__ = False

    def __init__(self, host="127.0.0.1", port=0):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((host, port))
        self.server.listen(4)
        self.host, self.port = self.server.getsockname()[:2]
        self.lock = threading.Condition()
        self.conn = None
        self.logins = []              # (monotonic time, frame)
        self.logouts = 0
        self.heartbeats = 0
        self.connections = 0
        self.frames_in = []           # every frame received (parsed)
        self.records = {}
        self.arrivals = {}
        self.upload_frames = 0
        self.upload_bytes = 0         # bytes of upload frames confirmed
        self.first_upload_at = None
        self.last_upload_at = None
        self.events = []              # AFN0E upload values
        self.acd_seen = 0
        self.confirm_uploads = True
        self.deny_uploads = False
        self.drop_all = False
        self.replies = []             # answers to our requests (PRM 0 uplink frames)
        self._pseq = 0
        self._stop = False
        self.errors = []

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self._stop = True
        self.disconnect()
        try:
            self.server.close()
        except OSError:
            pass

    def disconnect(self):
        with self.lock:
            conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.disconnect()
            with self.lock:
                self.conn = conn
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _send(self, conn, frame):
        try:
            conn.sendall(gw376.build(frame))
        except OSError:
            pass

    def _serve(self, conn):
        deframer = Deframer()
        while not self._stop:
            try:
                data = conn.recv(4096)
            except OSError:
                break
            if not data:
                break
            for raw in deframer.frames(data):
                try:
                    frame = gw376.parse(raw)
                except Exception as exc:  # noqa: BLE001 - a test fixture records everything
                    self.errors.append("parse: %s %s" % (exc, raw.hex()))
                    continue
                self._on_frame(conn, frame, len(raw))
        with self.lock:
            if self.conn is conn:
                self.conn = None
            self.lock.notify_all()

    def _on_frame(self, conn, frame, size):
        with self.lock:
            self.frames_in.append(frame)
            if frame.acd:
                self.acd_seen += 1
        if self.drop_all:
            return
        if not frame.prm:
            with self.lock:
                self.replies.append(frame)
                self.lock.notify_all()
            return
        if frame.afn == gw376.AFN_LINK:
            fn = frame.units[0][1]
            with self.lock:
                if fn == 1:
                    self.logins.append((time.monotonic(), frame))
                elif fn == 2:
                    self.logouts += 1
                else:
                    self.heartbeats += 1
                self.lock.notify_all()
            self._send(conn, gw376.confirm(frame))
            return
        identity = None
        try:
            identity = upload_identity(frame)
        except Exception as exc:  # noqa: BLE001
            self.errors.append("identity: %s" % exc)
        if identity is None:
            self.errors.append("upload without identity: %r" % frame)
            return
        if not self.confirm_uploads:
            return
        if self.deny_uploads:
            self._send(conn, gw376.deny(frame, function=0))
            return
        now = time.monotonic()
        with self.lock:
            self.upload_frames += 1
            self.upload_bytes += size
            if self.first_upload_at is None:
                self.first_upload_at = now
            self.last_upload_at = now
            if frame.afn == gw376.AFN_CLASS3:
                self.events.append(frame.units[0][2])
                recs = [(identity["first"], 2, 0, 0, None)]
            else:
                recs = identity["records"]
            for seq, rtype, point, ts, payload in recs:
                self.arrivals[seq] = self.arrivals.get(seq, 0) + 1
                self.records[seq] = (rtype, point, ts, payload)
            self.lock.notify_all()
        self._send(conn, gw376.confirm(frame))

    # --- test side ----------------------------------------------------------------------------
    def wait(self, predicate, timeout):
        end = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.2))
            return True

    def wait_login(self, timeout=30, count=1):
        return self.wait(lambda: len(self.logins) >= count, timeout)

    def request(self, frame, timeout=10, repeat=False):
        """Send a downlink request; return its reply frames (all of a multi-frame reply).
        repeat=True sends it again with the same PSEQ (a master that missed the answer)."""
        if not repeat:
            frame.seq = self._pseq
            self._pseq = (self._pseq + 1) & 0x0F
        with self.lock:
            conn = self.conn
            start = len(self.replies)
        if conn is None:
            raise AssertionError("no terminal connected")
        conn.sendall(gw376.build(frame))

        def done():
            got = [r for r in self.replies[start:] if gw376.is_reply_to(r, frame) or
                   r.afn == frame.afn and not r.fir]
            return got and got[-1].fin

        if not self.wait(done, timeout):
            return [r for r in self.replies[start:]]
        return [r for r in self.replies[start:] if gw376.is_reply_to(r, frame) or
                r.afn == frame.afn and not r.fir]

    def duplicates(self):
        return sum(1 for n in self.arrivals.values() if n > 1)

    def missing(self, first, end):
        return [s for s in range(first, end) if s not in self.arrivals]
