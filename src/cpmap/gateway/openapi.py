"""The OpenAPI 3.1 document of a gateway: every route, the infer body as the validator reads it.

Built from the served model's input contract, so that the document and the validation agree
(a Schemathesis run against it is part of the tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpmap.gateway.served import InputSpec
    from cpmap.gateway.table import Column, TableSpec

ERROR = {"type": "object", "required": ["error"], "additionalProperties": False,
         "properties": {"error": {"type": "string"}}}


def _resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"application/json": {"schema": schema or ERROR}}
    return {"description": desc, "content": body}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "invalid request", 401: "missing or wrong credentials", 403: "scope does not "
            "cover the model, or spent monthly budget", 404: "no such model or version",
            405: "method not allowed", 408: "body not received in time", 413: "too large",
            415: "unsupported media type", 429: "rate limit or query budget exceeded",
            503: "rate-limit store unavailable or server busy"}
    return {str(c): _resp(text[c]) for c in codes}


def _column_schema(col: Column, max_batch: int) -> dict[str, Any]:
    if col.kind == "categorical":
        value: dict[str, Any] = {"enum": list(col.categories)}
        types: list[str] = ["BYTES"]
    else:
        value = {"type": "integer" if col.integer else "number", "minimum": col.lo,
                 "maximum": col.hi}
        types = ["INT64", "INT32", "FP64", "FP32"] if col.integer else ["FP64", "FP32"]
    return {"type": "object", "additionalProperties": False,
            "required": ["name", "shape", "datatype", "data"],
            "properties": {
                "name": {"const": col.name},
                "shape": {"type": "array", "prefixItems": [
                    {"type": "integer", "minimum": 1, "maximum": max_batch}],
                    "minItems": 1, "maxItems": 1},
                "datatype": {"enum": types},
                "data": {"type": "array", "items": value, "minItems": 1,
                         "maxItems": max_batch}}}


def table_schema(table: TableSpec, max_batch: int) -> dict[str, Any]:
    """One input per named column, each once (the lengths must agree: said in words)."""
    columns = [_column_schema(c, max_batch) for c in table.columns]
    return {"type": "object", "additionalProperties": False, "required": ["inputs"],
            "description": "one input per column, all of the same length n",
            "properties": {"id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                           "inputs": {"type": "array", "prefixItems": columns,
                                      "items": False, "minItems": len(columns),
                                      "maxItems": len(columns)}}}


def infer_schema(spec: InputSpec, max_batch: int) -> dict[str, Any]:
    if spec.table is not None:
        return table_schema(spec.table, max_batch)
    number = {"type": "number", "minimum": spec.lo, "maximum": spec.hi}
    tensor = {"type": "object", "additionalProperties": False,
              "required": ["name", "shape", "datatype", "data"],
              "properties": {
                  "name": {"const": spec.name},
                  "shape": {"type": "array", "prefixItems": [
                      {"type": "integer", "minimum": 1, "maximum": max_batch},
                      {"const": spec.dim}], "minItems": 2, "maxItems": 2},
                  "datatype": {"enum": ["FP32", "FP64"]},
                  "data": {"type": "array", "items": number,
                           "maxItems": spec.dim * max_batch}}}
    return {"type": "object", "additionalProperties": False, "required": ["inputs"],
            "properties": {"id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
                           "inputs": {"type": "array", "items": tensor, "minItems": 1,
                                      "maxItems": 1}}}


def document(name: str, version: int, spec: InputSpec, max_batch: int,
             image_types: list[str]) -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
    infer_body: dict[str, Any] = {"application/json": {"schema": infer_schema(spec, max_batch)}}
    for t in image_types:
        infer_body[t] = {"schema": {"type": "string", "format": "binary"}}
    infer = {"summary": "Predict (Open Inference Protocol v2)", "security": secured,
             "requestBody": {"required": True, "content": infer_body},
             "responses": {"200": _resp("predictions", {"type": "object"}),
                           **_errors(400, 401, 403, 404, 413, 415, 429, 503)}}
    meta = {"summary": "Model metadata", "security": secured,
            "responses": {"200": _resp("metadata", {"type": "object"}),
                          **_errors(401, 403, 404, 429, 503)}}
    health = {"summary": "Health", "security": [],
              "responses": {"200": _resp("ok", {"type": "object"})}}
    base, vbase = f"/v2/models/{name}", f"/v2/models/{name}/versions/{version}"
    paths = {"/v2/health/live": {"get": health}, "/v2/health/ready": {"get": health},
             "/v2": {"get": health}, base: {"get": meta}, vbase: {"get": meta},
             f"{base}/infer": {"post": infer}, f"{vbase}/infer": {"post": infer},
             "/metrics": {"get": {"summary": "Prometheus metrics (scope: metrics)",
                                  "security": secured,
                                  "responses": {"200": {"description": "metrics"},
                                                **_errors(401, 403, 429, 503)}}}}
    return {"openapi": "3.1.0", "info": {"title": f"cpmap gateway: {name}", "version": "v2"},
            "paths": paths,
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}}}


def chat_document(name: str) -> dict[str, Any]:
    """OpenAPI of a gateway in front of an OpenAI-compatible chat server."""
    message = {"type": "object", "additionalProperties": False, "required": ["role", "content"],
               "properties": {"role": {"enum": ["system", "user", "assistant"]},
                              "content": {"type": "string", "maxLength": 32768}}}
    body = {"type": "object", "additionalProperties": False, "required": ["messages"],
            "properties": {"model": {"const": name},
                           "messages": {"type": "array", "items": message, "minItems": 1,
                                        "maxItems": 64},
                           "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1024},
                           "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                           "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                           "stream": {"const": False}}}
    op = {"summary": "Chat completion (OpenAI-compatible)",
          "security": [{"bearer": []}, {"apiKey": []}],
          "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
          "responses": {"200": _resp("completion", {"type": "object"}),
                        **_errors(400, 401, 403, 413, 415, 429, 503)}}
    return {"openapi": "3.1.0", "info": {"title": f"cpmap gateway: {name}", "version": "v1"},
            "paths": {"/v1/chat/completions": {"post": op}},
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}}}
