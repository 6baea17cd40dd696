"""JSON Schemas of the roll app's JSON endpoints, for the OpenAPI document
(core/openapi.py): the roll API as ROLL_API.md describes it, and the records page's
reveal. The views declare them with `core.openapi.declare`."""

from roll.models import Kind, RecordStatus
from roll.services import DEFAULT_FEED, MAX_ALERTS, MAX_BATCH_ID, MAX_FEED, MAX_NOTE

_NULLABLE_STRING = {"type": ["string", "null"]}

ALERT = {
    "type": "object",
    "required": ["alert_id", "kind", "school_code", "name", "detected_at"],
    "properties": {
        "alert_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "kind": {"type": "string", "enum": list(Kind.values)},
        "school_code": {"type": "string"},
        "name": {"type": "string"},
        "gender": {"type": ["string", "null"], "enum": ["M", "F", None]},
        "birth_date": {"type": ["string", "null"], "format": "date"},
        "id_number": {"type": ["string", "null"], "pattern": "^[0-9]{17}[0-9X]$"},
        "roll_no": _NULLABLE_STRING,
        "grade": _NULLABLE_STRING,
        "graduating": {"type": ["boolean", "null"]},
        "detected_at": {"type": "string", "format": "date-time"},
        "detail": _NULLABLE_STRING,
        "related_school_codes": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}

INTAKE = {
    "type": "object",
    "required": ["alerts"],
    "properties": {
        "batch_id": {"type": ["string", "null"], "maxLength": MAX_BATCH_ID},
        "alerts": {"type": "array", "maxItems": MAX_ALERTS, "items": ALERT},
    },
}

INTAKE_RESULT = {
    "type": "object",
    "required": ["batch_id", "accepted", "duplicates", "rejected"],
    "properties": {
        "batch_id": {"type": "string"},
        "accepted": {"type": "integer", "minimum": 0},
        "duplicates": {"type": "integer", "minimum": 0},
        "rejected": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "alert_id", "errors"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "alert_id": _NULLABLE_STRING,
                    "errors": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            },
        },
    },
}

FEED_QUERY = {
    "status": {"type": "string", "enum": list(RecordStatus.values)},
    "since": {"type": "string", "description": "next_cursor of the previous page"},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_FEED, "default": DEFAULT_FEED},
}

FEED = {
    "type": "object",
    "required": ["items", "next_cursor"],
    "properties": {
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["alert_id", "status", "resolved_at", "resolution_note", "school_code"],
                "properties": {
                    "alert_id": {"type": "string"},
                    "status": {"type": "string", "enum": list(RecordStatus.values)},
                    "resolved_at": {"type": ["string", "null"], "format": "date-time"},
                    "resolution_note": {"type": "string"},
                    "school_code": {"type": "string"},
                    "changed_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
        "next_cursor": {"type": "string"},
    },
}

CLOSE = {
    "type": "object",
    "required": ["alert_ids", "outcome"],
    "properties": {
        "alert_ids": {"type": "array", "maxItems": MAX_ALERTS, "items": {"type": "string"}},
        "outcome": {"type": "string", "enum": ["verified", "reopened"]},
        "detail": {"type": ["string", "null"], "maxLength": MAX_NOTE},
    },
}

CLOSE_RESULT = {
    "type": "object",
    "required": ["applied", "unchanged", "unknown"],
    "properties": {
        "applied": {"type": "integer", "minimum": 0},
        "unchanged": {"type": "integer", "minimum": 0},
        "unknown": {"type": "array", "items": {"type": "string"}},
    },
}

REVEAL = {
    "type": "object",
    "required": ["id_number", "roll_no"],
    "properties": {"id_number": _NULLABLE_STRING, "roll_no": _NULLABLE_STRING},
}
