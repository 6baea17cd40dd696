"""Django's database sessions, with the read every request makes as written-out SQL.

`SESSION_ENGINE = "core.sessions"`. Everything is Django's `db` backend except the
one query that loads a session: `Session.objects.get(session_key=…,
expire_date__gt=now)` cost about 0.5 ms of CPU per request and socket connect, most
of it building the query (bench/middleware.py). Same table, same rows, same rule
(an expired or unknown key is no session); creating, saving, cycling and deleting
sessions are Django's own.
"""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone

_LOAD = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        key = self.session_key
        if key is None:
            self._session_key = None
            return None
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_LOAD, [key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        # What load() reads of it; the expiry stays in the row.
        return self.model(session_key=key, session_data=row[0])
