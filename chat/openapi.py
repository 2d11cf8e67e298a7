"""The OpenAPI 3.1 description of the ingestion API, served at /api/v1/openapi.json."""

from __future__ import annotations

_CONTEXT = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string"},
        "source": {"type": "string", "maxLength": 1000},
        "title": {"type": "string", "maxLength": 300},
        "score": {"type": ["number", "null"]},
    },
}
_INTERACTION = {
    "type": "object",
    "required": ["question", "answer", "model"],
    "additionalProperties": False,
    "properties": {
        "id": {
            "type": "string",
            "format": "uuid",
            "description": "Client id; sending it again is a no-op that returns the stored record.",
        },
        "conversation_id": {"type": "string", "maxLength": 200},
        "user": {"type": "string", "maxLength": 200, "description": "Your end user's id"},
        "question": {"type": "string", "minLength": 1},
        "answer": {"type": "string"},
        "model": {"type": "string", "minLength": 1, "maxLength": 120},
        "system_prompt": {"type": "string"},
        "context": {"type": "array", "maxItems": 50, "items": _CONTEXT},
        "grounded": {"type": "boolean", "description": "Defaults to true when context is given"},
        "latency_ms": {"type": "integer", "minimum": 0},
        "prompt_tokens": {"type": "integer", "minimum": 0},
        "completion_tokens": {"type": "integer", "minimum": 0},
        "created_at": {"type": "string", "format": "date-time"},
        "metadata": {"type": "object"},
        "messages": {
            "type": "array",
            "description": "The exact messages sent, if you have them",
            "items": {
                "type": "object",
                "required": ["role", "content"],
                "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
            },
        },
    },
}
_ERRORS = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        }
    },
    "description": (
        'Messages per field; in a batch, fields are prefixed with the item index ("3.question").'
    ),
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _err(text: str) -> dict:
    return {"description": text, **_json({"$ref": "#/components/schemas/Errors"})}


def schema(server_url: str) -> dict:
    auth_errors = {"401": _err("Missing or invalid token")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ReviewHub ingestion API",
            "version": "1.0.0",
            "description": "Log LLM interactions from your own app, rate them, read them back.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/interactions": {
                "post": {
                    "summary": "Log one interaction or a batch of up to 1,000",
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Interaction"},
                                    {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": 1000,
                                        "items": {"$ref": "#/components/schemas/Interaction"},
                                    },
                                ]
                            }
                        ),
                    },
                    "responses": {
                        "201": {
                            "description": "Stored; the ids in request order",
                            **_json(
                                {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "string"},
                                        "ids": {"type": "array", "items": {"type": "string"}},
                                        "created": {},
                                        "existing": {"type": "integer"},
                                    },
                                }
                            ),
                        },
                        "200": {"description": "Every item was already stored (a retry)"},
                        "400": _err("Invalid input; nothing was stored"),
                        "413": _err("Body over 8 MB or more than 1,000 items"),
                        **auth_errors,
                    },
                }
            },
            "/interactions/{id}": {
                "get": {
                    "summary": "A stored interaction with its context, feedback and reviews",
                    "description": "For the interaction's owner and for experts/leads.",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The record",
                            **_json({"$ref": "#/components/schemas/Record"}),
                        },
                        "404": _err("No such interaction (or not yours)"),
                        **auth_errors,
                    },
                }
            },
            "/interactions/{id}/feedback": {
                "post": {
                    "summary": "Rate an interaction (one per user; sending again changes it)",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        **_json(
                            {
                                "type": "object",
                                "required": ["rating"],
                                "additionalProperties": False,
                                "properties": {
                                    "rating": {"enum": ["up", "down"]},
                                    "comment": {"type": "string"},
                                },
                            }
                        ),
                    },
                    "responses": {
                        "201": {"description": "Rated"},
                        "200": {"description": "Rating changed"},
                        "400": _err("Invalid input"),
                        "404": _err("No such interaction (or not yours)"),
                        **auth_errors,
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "From the API tokens page or `manage.py create_api_token`",
                }
            },
            "schemas": {
                "Interaction": _INTERACTION,
                "Context": _CONTEXT,
                "Errors": _ERRORS,
                "Record": {
                    "type": "object",
                    "properties": {
                        **{k: v for k, v in _INTERACTION["properties"].items() if k != "messages"},
                        "status": {"enum": ["ok", "error"]},
                        "source": {"type": "string"},
                        "feedback": {"type": "array", "items": {"type": "object"}},
                        "reviews": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    }
