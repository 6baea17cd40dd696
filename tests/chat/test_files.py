"""Files in chat: the notices' rules, stored with the message, served to members only."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from chat import services
from chat.models import Message, MessageFile


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(name="周报.xlsx", content=b"PK\x03\x04 report"):
    return SimpleUploadedFile(name, content)


def test_a_file_goes_up_with_a_message_and_comes_down_to_a_member(people, rooms, client_for):
    client = client_for(people.county_manager)
    client.post(f"/chat/{rooms.county.pk}/post/", {"body": "本周报表", "files": [upload()]})
    message = Message.objects.get(room=rooms.county)
    item = message.files.get()
    frame = services.message_frame(message)
    assert frame["files"][0]["name"] == "周报.xlsx"
    member = client_for(people.school_staff)
    response = member.get(frame["files"][0]["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"PK\x03\x04 report"
    assert item.size == len(b"PK\x03\x04 report")


def test_a_file_alone_makes_a_message(people, rooms):
    message = services.message_post(
        account=people.county_staff, room=rooms.county, body="", files=[upload()]
    )
    assert message.files.count() == 1


def test_a_non_member_cannot_fetch_a_rooms_file(people, rooms, client_for):
    message = services.message_post(
        account=people.county_staff, room=rooms.county, body="x", files=[upload()]
    )
    url = services.message_frame(message)["files"][0]["url"]
    assert client_for(people.sibling_staff).get(url).status_code == 404


def test_a_forbidden_file_is_refused_with_its_name_and_nothing_is_stored(
    people, rooms, _media_root
):
    with pytest.raises(ValidationError) as refused:
        services.message_post(
            account=people.county_staff,
            room=rooms.county,
            body="看这个",
            files=[upload("tool.exe", b"MZ")],
        )
    assert "tool.exe" in " ".join(refused.value.messages)
    assert not Message.objects.exists() and not MessageFile.objects.exists()
    assert not (_media_root.exists() and any(p.is_file() for p in _media_root.rglob("*")))


def test_an_oversize_file_is_refused(people, rooms, settings):
    settings.NOTICE_MAX_FILE_BYTES = 10
    with pytest.raises(ValidationError):
        services.message_post(
            account=people.county_staff, room=rooms.county, body="x", files=[upload()]
        )
    assert rooms.county.messages.count() == 0


def test_a_deleted_messages_file_is_no_longer_served(people, rooms, client_for):
    message = services.message_post(
        account=people.county_staff, room=rooms.county, body="x", files=[upload()]
    )
    url = services.message_frame(message)["files"][0]["url"]
    services.message_delete(account=people.county_staff, message=message)
    assert client_for(people.county_manager).get(url).status_code == 404


def test_the_author_edits_a_message_from_the_page(people, rooms, client_for):
    message = services.message_post(account=people.county_staff, room=rooms.county, body="初稿")
    client_for(people.county_staff).post(
        f"/chat/{rooms.county.pk}/messages/{message.seq}/edit/", {"body": "定稿"}
    )
    message.refresh_from_db()
    assert (message.body, message.revisions.get().body) == ("定稿", "初稿")
