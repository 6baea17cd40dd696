"""JSON Schemas of the chat pages' JSON endpoints (history, members), for the OpenAPI
document (core/openapi.py); the views declare them with `core.openapi.declare`."""

MESSAGE = {
    "type": "object",
    "required": ["type", "room", "seq", "message_id", "author", "html", "at", "deleted"],
    "properties": {
        "type": {"const": "chat.message"},
        "room": {"type": "integer"},
        "seq": {"type": "integer"},
        "message_id": {"type": "integer"},
        "author": {"type": "string"},
        "author_name": {"type": "string"},
        "unit": {"type": "string"},
        "html": {"type": "string"},
        "at": {"type": "string"},
        "edited": {"type": "boolean"},
        "deleted": {"type": "boolean"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "size", "url"],
                "properties": {
                    "name": {"type": "string"},
                    "size": {"type": "integer"},
                    "url": {"type": "string"},
                },
            },
        },
    },
}

HISTORY = {
    "type": "object",
    "required": ["messages"],
    "properties": {"messages": {"type": "array", "items": MESSAGE}},
}

HISTORY_QUERY = {
    "before": {"type": "integer", "minimum": 0, "description": "the first seq the page holds"}
}

MEMBERS = {
    "type": "object",
    "required": ["members", "can_manage"],
    "properties": {
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "username", "name", "unit", "presence", "muted"],
                "properties": {
                    "id": {"type": "integer"},
                    "username": {"type": "string"},
                    "name": {"type": "string"},
                    "unit": {"type": "string"},
                    "presence": {"type": "string"},
                    "muted": {"type": "boolean"},
                },
            },
        },
        "can_manage": {"type": "boolean"},
    },
}

# The contact directory's presence refresh (chat_directory_presence).
DIRECTORY_PRESENCE_QUERY = {
    "ids": {
        "type": "string",
        "pattern": "^[0-9,]*$",
        "description": "comma-separated account ids (at most 100); others are left out",
    }
}

DIRECTORY_PRESENCE = {
    "type": "object",
    "required": ["presence"],
    "properties": {
        "presence": {
            "type": "object",
            "description": "account id → online, away or offline, for ids in the directory",
            "additionalProperties": {"enum": ["online", "away", "offline"]},
        }
    },
}
