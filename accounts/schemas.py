"""JSON Schemas of the unit picker's endpoints (issue 15), for the OpenAPI document
(core/openapi.py); the views in accounts/picker.py declare them with
`core.openapi.declare`."""

UNIT = {
    "type": "object",
    "required": ["code", "name", "level", "level_label", "closed"],
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "level": {
            "type": "string",
            "enum": ["ministry", "province", "prefecture", "county", "school"],
        },
        "level_label": {"type": "string"},
        "closed": {"type": "boolean"},
        "children": {"type": "integer", "minimum": 0},
    },
}

UNITS = {
    "type": "object",
    "required": ["units"],
    "properties": {"units": {"type": "array", "items": UNIT}},
}

CHILDREN = {
    "type": "object",
    "required": ["unit", "trail", "units"],
    "properties": {
        "unit": UNIT,
        "trail": {"type": "array", "items": UNIT},
        "units": {"type": "array", "items": UNIT},
    },
}

LEVELS_QUERY = {
    "type": "string",
    "description": "comma-separated levels to offer (e.g. county,school); others are left out",
}

SEARCH_QUERY = {
    "q": {
        "type": "string",
        "maxLength": 50,
        "description": "a code prefix, pinyin initials or part of the name",
    },
    "levels": LEVELS_QUERY,
}

CHILDREN_QUERY = {
    "unit": {"type": "string", "description": "the unit to open (default: one's own)"},
    "levels": LEVELS_QUERY,
}

UNITS_QUERY = {
    "codes": {"type": "string", "description": "unit codes separated by spaces or commas"},
}
