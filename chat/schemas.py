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
