"""The database restarted under a running web process: a PostgreSQL cluster of the
test's own (initdb in a temporary directory, never the machine's shared one), one web
process on it. The cluster is stopped as a crash would stop it (pg_ctl -m immediate):
the roll API and the pages answer 503 (JSON for /api/, the platform's page otherwise)
and nothing of a refused write is stored; started again on the same port, every
request succeeds again from the same web process, never restarted.

Waits are bounded (WAIT); nothing asserts how fast."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests import processes
from tests.faults.conftest import PREFIX, SCALE, WAIT, roll_post, until
from tests.roll.helpers import alert, ric

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

DURING = 20 * SCALE  # requests made while the database is down
AFTER = 24 * SCALE  # requests after it is back: more than the process's HTTP threads (8), each
# with its own persistent connection that the crash broke

SEED = """
import json
from django.conf import settings
from django.test import Client
from roll import services
from tests import factories
tree = factories.small_tree()
key, secret = services.key_issue(actor=factories.manager(tree.province), unit=tree.province)
client = Client()
client.force_login(factories.staff(tree.school), backend="accounts.backends.PasswordBackend")
cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
print(json.dumps({"key": key.key_id, "secret": secret, "cookie": cookie}))
"""

COUNT = """
import json
from roll.models import IntakeBatch, ProblemRecord
print(json.dumps({
    "batches": sorted(IntakeBatch.objects.values_list("batch_id", flat=True)),
    "records": ProblemRecord.objects.count(),
}))
"""


@pytest.fixture
def cluster():
    # Not under pytest's tmp_path: as root the server runs as `postgres`, which cannot
    # enter root's private pytest directory.
    base = Path(tempfile.mkdtemp(prefix="faults-pg-"))
    pg = processes.PostgresCluster(base)
    try:
        pg.init()
        pg.start()
        pg.createdb("platform")
    except processes.ProcessError as e:
        pytest.fail(f"a PostgreSQL cluster of the test's own could not start: {e}")
    try:
        yield pg
    finally:
        if pg.running():
            pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def platform_env(cluster, fault_redis):
    env = processes.daphne_env(cluster.url("platform"), fault_redis.url, cache_key_prefix=PREFIX)
    env["PYTHONPATH"] = str(processes.PROJECT_DIR)
    return env


def manage(env: dict, *argv: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *argv],
        cwd=processes.PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"manage.py {argv[0]}: {done.stdout}\n{done.stderr}"
    return done.stdout


def get(url: str, cookie: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as r:  # noqa: S310
            return r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", "")


def batch(batch_id: str, school: str = "1301020001") -> dict:
    return {
        "batch_id": batch_id,
        "alerts": [
            alert(f"{batch_id}-{n}", school=school, id_number=ric(f"1301022012030{n:04d}"))
            for n in range(3)
        ],
    }


def test_the_database_restarted_503_then_recovery_without_a_restart(
    cluster, platform_env, tmp_path
):
    manage(platform_env, "migrate", "--noinput", "-v", "0")
    seeded = json.loads(manage(platform_env, "shell", "-c", SEED).strip().splitlines()[-1])
    web = processes.Daphne("web", platform_env, tmp_path)
    try:
        web.start()
    except processes.ProcessError as e:
        pytest.fail(str(e))
    try:
        pid = web.proc.pid
        post = lambda payload: roll_post(web.url, seeded["key"], seeded["secret"], payload)  # noqa: E731
        page = f"{web.url}/"  # the home page of a logged-in school account

        assert post(batch("before"))[0] == 200
        assert get(page, seeded["cookie"])[0] == 200

        cluster.stop("immediate")  # a crash: no checkpoint, every connection cut
        during = []
        for _ in range(DURING // 2):
            status, body = post(batch("during"))
            during.append(status)
            assert status == 503, (status, body)
            assert body.get("error"), body  # the roll API's JSON error shape
            status, kind = get(page, seeded["cookie"])
            during.append(status)
            assert (status, kind.split(";")[0]) == (503, "text/html"), (status, kind)
        log_at_start = web.log.stat().st_size

        cluster.start()  # the same port, the same data
        # Recovered without restarting the web process: a write succeeds, and so does
        # every request after it, whichever of the process's threads answers it.
        first = until(lambda: post(batch("during"))[0] == 200 or None, "a write succeeds again")
        assert first
        # Without DB_CONN_HEALTH_CHECKS (off by default, config/settings.py) a thread that
        # kept a connection the crash cut fails its first call with a 503 and drops that
        # connection: at most one call per HTTP thread, never a 500, and a client's retry
        # (the 503 says Retry-After) is answered.
        statuses = [get(page, seeded["cookie"])[0] for _ in range(AFTER // 2)]
        for n in range(AFTER // 2):
            status = post(batch(f"after-{n}"))[0]
            statuses.append(status)
            if status == 503:
                statuses.append(post(batch(f"after-{n}"))[0])
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(503) <= settings.HTTP_THREADS, statuses
        assert web.proc.poll() is None and web.proc.pid == pid, "the web process was restarted"
    finally:
        code = web.stop()
    assert code == 0, processes.tail(web.log)

    # No partial writes: the refused batch was stored once, by its accepted retry.
    stored = json.loads(manage(platform_env, "shell", "-c", COUNT).strip().splitlines()[-1])
    expected = ["before", "during"] + [f"after-{n}" for n in range(AFTER // 2)]
    assert stored == {"batches": sorted(expected), "records": 3 * len(expected)}

    with open(web.log, "rb") as f:
        log = f.read(log_at_start).decode(errors="replace").splitlines()
    tracebacks = sum(1 for line in log if line.startswith("Traceback"))
    print(
        f"database restart: {len(during)} requests during the outage, all 503; "
        f"{len(statuses)} after it, {statuses.count(503)} of them 503 (a thread's cut "
        f"connection, retried) and the rest 200; tracebacks in the log: {tracebacks}"
    )
    assert tracebacks < len(during), "\n".join(log[-80:])
