"""The alarm sounds, synthesised here as WAV files (no recorded audio in the repository).

Each severity has its own pattern so an operator hears what kind of alarm came in without
looking: critical is a two-tone siren (the page repeats it until the alarm is acknowledged),
major two beeps, minor one beep, info a short low tick.
"""
import io
import math
import struct
import wave

RATE = 16000        # samples a second: plenty for tones under 2 kHz
VOLUME = 0.5

# severity -> [(frequency Hz or 0 for silence, seconds)]
PATTERNS = {
    "critical": [(988, 0.18), (740, 0.18)] * 3,
    "major": [(880, 0.15), (0, 0.08), (880, 0.15)],
    "minor": [(660, 0.2)],
    "info": [(440, 0.08)],
}


def wav(severity):
    """The WAV bytes (16-bit mono PCM) of a severity's sound."""
    frames = bytearray()
    for frequency, seconds in PATTERNS[severity]:
        count = int(RATE * seconds)
        ramp = int(RATE * 0.01)                 # 10 ms fade in/out: no clicks
        for n in range(count):
            envelope = min(1.0, n / ramp, (count - n) / ramp) if frequency else 0.0
            sample = VOLUME * envelope * math.sin(2 * math.pi * frequency * n / RATE)
            frames += struct.pack("<h", int(sample * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(bytes(frames))
    return out.getvalue()
