"""OpenAPI details drf-spectacular cannot infer: how the API authenticates and how it fails."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR = {
    "type": "object",
    "description": "`detail` for request-wide errors; otherwise each wrong field with its messages.",
    "additionalProperties": True,
}
ERROR_RESPONSES = {
    "400": "Bad input: the body names each wrong field.",
    "401": "No API key, or an invalid or revoked one.",
    "403": "The key's role does not allow this.",
    "404": "No such object for your tenant.",
    "405": "Method not allowed.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Rate limited; retry later.",
}


class TenantAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "agent_platform.tenancy.TenantAPIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; create one with `manage.py create_api_key SLUG` or in admin.",
        }


def add_error_responses(result, generator, request, public):
    """Document the errors every operation can answer, so clients (and schemathesis) know them."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result


# What DRF's CharField refuses in any text (NUL: PostgreSQL cannot store it), and, for a field that may not be
# blank, text with nothing but whitespace (DRF trims it, the services strip it; str.strip() also takes
# U+001C-U+001F, which not every regex engine counts as whitespace). Lone surrogates, refused too, cannot be
# written in a pattern every validator compiles, nor sent in UTF-8.
TEXT = r"^[^\x00]*$"
NOT_BLANK_TEXT = r"^[^\x00]*[^\x00\s\x1c-\x1f][^\x00]*$"


def strict_request_bodies(result, generator, request, public):
    """Say in the schema what every input serializer enforces (they are StrictSerializers): unknown fields are
    refused, and text is text a database can store, not blank where blank is refused."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request") or component.get("type") != "object":
            continue
        component["additionalProperties"] = False
        for field in component.get("properties", {}).values():
            if (
                field.get("type") == "string"
                and "enum" not in field
                and "format" not in field
                and "pattern" not in field
            ):
                field["pattern"] = NOT_BLANK_TEXT if field.get("minLength", 0) >= 1 else TEXT
    return result
