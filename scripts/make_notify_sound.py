"""Writes static/sounds/notify.wav: the optional alert sound (issue 15), a 0.3 s
two-note chime, 8-bit mono at 8 kHz (about 2.4 KB). Generated rather than
downloaded so the platform serves its own file (intranets, no CDN); the output is
deterministic, and tests/core/test_notify_sound.py checks the committed file is it.

    python scripts/make_notify_sound.py
"""

import io
import math
import wave
from pathlib import Path

RATE = 8000
NOTES = ((880.0, 0.12), (1320.0, 0.18))  # A5 then E6: seconds each
TARGET = Path(__file__).resolve().parents[1] / "static" / "sounds" / "notify.wav"


def chime() -> bytes:
    frames = bytearray()
    for freq, seconds in NOTES:
        n = int(RATE * seconds)
        for i in range(n):
            # A short linear attack and an exponential decay: no click at either end.
            envelope = min(1.0, i / 80) * math.exp(-4.0 * i / n)
            sample = 0.5 * envelope * math.sin(2 * math.pi * freq * i / RATE)
            frames.append(128 + round(127 * sample))  # 8-bit WAV is unsigned
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return out.getvalue()


if __name__ == "__main__":
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(chime())
    print(f"{TARGET} ({TARGET.stat().st_size} bytes)")
