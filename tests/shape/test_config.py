"""The balancer's limits agree with the platform's own, and its configuration is valid."""

import re
import subprocess
import sys

import pytest
from django.conf import settings

from roll import auth
from tests.shape.conftest import shape


def _rendered(tmp_path, **kw):
    config = shape.render_haproxy(
        bind="127.0.0.1:8000",
        servers=[("w1", "127.0.0.1:8001"), ("w2", "127.0.0.1:8002")],
        admin_socket=tmp_path / "admin.sock",
        env={"ALLOWED_HOSTS": "xj.example.cn,localhost"},
        **kw,
    )
    return config


def test_the_body_limits_are_the_platforms_own(tmp_path):
    assert shape.ROLL_MAX_BYTES == auth.MAX_BODY
    assert shape.NOTICE_MAX_FILES == settings.NOTICE_MAX_FILES
    assert (
        shape.upload_bytes() == settings.NOTICE_MAX_FILES * settings.NOTICE_MAX_FILE_BYTES + 2**20
    )
    config = _rendered(tmp_path)
    assert f"gt {shape.upload_bytes()}" in config
    # The roll API answers a little past its limit with its own reason; the balancer
    # refuses only what is well past it.
    assert f"gt {auth.MAX_BODY + 2**20}" in config


def test_sockets_outlive_the_ping_and_checks_use_an_allowed_host(tmp_path):
    config = _rendered(tmp_path)
    tunnel = int(re.search(r"timeout tunnel (\d+)s", config).group(1))
    assert tunnel > 25 * 2  # two missed pings before the balancer would cut a socket
    assert "hdr Host xj.example.cn" in config
    assert "uri /readyz" in config
    for name in ("w1", "w2"):
        assert f"server {name} 127.0.0.1:80{name[1:].zfill(2)} track web/{name}" in config


def test_haproxy_accepts_the_rendered_configuration(tmp_path):
    path = tmp_path / "haproxy.cfg"
    path.write_text(_rendered(tmp_path, maxconn=1000))
    check = subprocess.run(  # noqa: S603 - our own haproxy binary and file
        [shape.haproxy_binary(), "-c", "-f", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_shape_that_fails_to_start_leaves_nothing_running(tmp_path):
    commands = iter(
        [
            [sys.executable, "-c", "raise SystemExit(3)"],  # w1 dies at once
            [sys.executable, "-c", "import time; time.sleep(120)"],  # w2 would stay
        ]
    )
    the_shape = shape.Shape(2, argv_of=lambda port: next(commands), log_dir=tmp_path)
    with pytest.raises(shape.ShapeError, match="w1 exited with 3"):
        with the_shape:
            pass
    assert [p.alive() for p in the_shape.web] == [False, False]
