"""The OpenAPI document of the vending API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from tvmcli.permissions.statements import MAX_TOKEN_ID_LENGTH
from tvmcli.version import __version__

TOKEN_PATHS = ("/token", "/", "/api/momento/token")


def openapi_document() -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}

    def errors(*codes: int) -> dict[str, Any]:
        return {
            str(c): {"description": "error", "content": {"application/json": {"schema": error}}}
            for c in codes
        }

    token_op = {
        "summary": "A scoped Momento disposable token",
        "parameters": [
            {
                "name": "profile",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "Profile to mint; default: the caller's default profile",
            },
            {
                "name": "name",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": MAX_TOKEN_ID_LENGTH},
                "description": "Token id (when the profile and the sign-in do not fix one): "
                "printable, at most 64 bytes in UTF-8",
            },
        ],
        "responses": {
            "200": {
                "description": "a token",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Token"}}},
            },
            **errors(400, 401, 403, 411, 413, 429, 431, 502, 503, 504),
        },
        "security": [{"bearer": []}, {"basic": []}, {}],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "momento-tvm", "version": __version__},
        "paths": {
            **{path: {"get": token_op} for path in TOKEN_PATHS},
            "/profiles": {
                "get": {
                    "summary": "Profiles the caller may use",
                    "responses": {"200": {"description": "profiles"}, **errors(401)},
                }
            },
            "/client.js": {
                "get": {
                    "summary": "The browser helper: an ES module exporting TvmTokenSource",
                    "responses": {
                        "200": {
                            "description": "the module (strong ETag; If-None-Match gives 304)",
                            "content": {"text/javascript": {"schema": {"type": "string"}}},
                        },
                        "304": {"description": "not modified"},
                    },
                    "security": [],
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Health, and whether Momento answered recently",
                    "responses": {
                        "200": {"description": "healthy or idle"},
                        "503": {"description": "minting is failing"},
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Token": {
                    "type": "object",
                    "required": ["authToken", "expiresAt"],
                    "properties": {
                        "authToken": {"type": "string"},
                        "expiresAt": {"type": "integer"},
                        "endpoint": {"type": "string"},
                        "profile": {"type": "string"},
                        "tokenId": {"type": ["string", "null"]},
                        "webEndpoint": {
                            "type": "string",
                            "description": "only when the server mints from momento-tvm's "
                            "emulator: its gRPC-web URL (http://127.0.0.1:PORT), which the Web "
                            "SDK takes as cacheEndpoint, controlEndpoint and tokenEndpoint "
                            "(client.js credentialProps() does this)",
                        },
                        "now": {
                            "type": "integer",
                            "description": "the server's time (epoch seconds): the token has "
                            "expiresAt - now seconds left, whatever the client's clock says",
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
