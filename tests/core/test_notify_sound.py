"""The optional alert sound (issue 15): a short WAV the platform serves itself, and
the committed file is exactly what scripts/make_notify_sound.py generates."""

import importlib.util
import io
import wave
from pathlib import Path

from django.contrib.staticfiles import finders

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_notify_sound", ROOT / "scripts" / "make_notify_sound.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_sound_is_the_generated_one_and_short():
    found = finders.find("sounds/notify.wav")
    assert found, "static/sounds/notify.wav is not found by the static files finders"
    data = Path(found).read_bytes()
    assert data == _script().chime()
    with wave.open(io.BytesIO(data)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 1, 8000)
    assert 0.1 <= seconds <= 1.0
    assert len(data) < 8 * 1024
