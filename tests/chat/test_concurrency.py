"""Concurrent posting into one room: the row lock on the room hands out sequence numbers
one by one, with neither a repeat nor a gap (PostgreSQL and SQLite alike)."""

import threading

import pytest
from django.db import connection

from chat import services
from chat.models import Message

pytestmark = pytest.mark.django_db(transaction=True)

PER_THREAD = 25


def test_fifty_posts_from_two_threads_get_sequence_numbers_without_gaps(people, rooms, monkeypatch):
    monkeypatch.setattr(services, "RATE_LIMIT", 1000)
    authors = [people.county_staff, people.school_staff]
    start = threading.Barrier(len(authors))
    failures = []

    def write(author):
        try:
            start.wait(timeout=30)
            for n in range(PER_THREAD):
                services.message_post(
                    account=author, room=rooms.county, body=f"{author.username} {n}"
                )
        except Exception as exc:  # reported below, with the thread's own traceback lost
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(a,)) for a in authors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []

    total = PER_THREAD * len(authors)
    seqs = list(
        Message.objects.filter(room=rooms.county).order_by("seq").values_list("seq", flat=True)
    )
    assert seqs == list(range(1, total + 1))
    rooms.county.refresh_from_db()
    assert rooms.county.last_seq == total
    for author in authors:
        bodies = list(
            Message.objects.filter(room=rooms.county, author=author)
            .order_by("seq")
            .values_list("body", flat=True)
        )
        # Each writer's messages are numbered in the order it sent them.
        assert bodies == [f"{author.username} {n}" for n in range(PER_THREAD)]
