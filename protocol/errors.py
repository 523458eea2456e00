"""The one exception every codec in protocol/ raises for bad input."""


class ProtocolError(Exception):
    """Input that is not a valid frame or value.

    `reason` says what was wrong in words a field engineer understands; `offset` is the byte
    offset in the frame where the parser noticed it (None when the problem is not at one byte).
    """

    def __init__(self, reason, offset=None):
        super().__init__(reason, offset)
        self.reason = reason
        self.offset = offset

    def __str__(self):
        if self.offset is None:
            return self.reason
        return "%s (at byte %d)" % (self.reason, self.offset)
