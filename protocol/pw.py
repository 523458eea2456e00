"""The terminal PW's one notation (comm.password on the board, the terminal's PW at the
station): hex digits of the 16 bytes in wire order, as on the wire and in the standard.
Loaded by protocol/settings.py only when a settings file holds a PW."""
from protocol.errors import ProtocolError


def pw_hex(text):
    """The terminal PW in its one notation: hex digits of the 16 bytes in wire order (as on
    the wire, and as the master station takes it), fewer than 32 padded with zero bytes at the
    end, so `00112233` is 00 11 22 33 00 .. 00. Returns 32 lower-case digits, or "" (none: 16
    zero bytes on the wire)."""
    digits = text.replace(" ", "").lower()
    if not digits:
        return ""
    for c in digits:
        if c not in "0123456789abcdef":
            raise ProtocolError("comm.password must be hex digits (the 16-byte PW in wire "
                                "order, e.g. 00112233), not text")
    if len(digits) % 2 or len(digits) > 2 * 16:
        raise ProtocolError("comm.password must be 2 to 32 hex digits (an even number: "
                            "whole bytes)")
    return digits + "0" * (2 * 16 - len(digits))


def from_text(old):
    """The hex notation of a PW firmware before it kept as text sent as its bytes
    ("00112233" -> 30 30 31 31 ..): at most 16 characters, while a hex value is always stored
    as 32 digits, so the two cannot be confused, and the bytes on the wire stay the same."""
    from binascii import hexlify
    return pw_hex(hexlify(old.encode()).decode())


def upgrade(raw):
    """Convert settings written by firmware before the hex PW notation, in place; returns the
    keys converted."""
    old = raw.get("comm.password") if isinstance(raw, dict) else None
    if not isinstance(old, str) or not old or len(old) > 16:
        return []
    raw["comm.password"] = from_text(old)
    return ["comm.password"]
