"""The OpenAPI document and the validation come from one definition, so they cannot drift:
every limit the document states is enforced, and another app adds an operation without
editing chat/."""

import json

import pytest
from django.http import JsonResponse
from django.test import RequestFactory

from chat import services
from chat.models import Turn
from chat.openapi import Interaction
from reviewhub import apispec

REF = "#/components/schemas/{model}"


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json()


@pytest.mark.django_db
def test_the_document_is_the_models_own_json_schema(document):
    schemas = document["components"]["schemas"]
    expected = Interaction.model_json_schema(ref_template=REF)
    expected.pop("$defs")
    assert schemas["Interaction"] == expected
    assert schemas["Interaction"]["additionalProperties"] is False
    body = document["paths"]["/interactions"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"]["oneOf"][1]["maxItems"] == 1000


@pytest.mark.django_db
def test_every_response_and_error_is_described(document):
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            for status, response in op["responses"].items():
                assert "application/json" in response.get("content", {}), (path, method, status)
            assert "405" in op["responses"]
            if path != "/openapi.json":
                assert "401" in op["responses"]
    record = document["components"]["schemas"]["TurnRecord"]["properties"]
    assert {"type": "null"} in record["latency_ms"]["anyOf"]  # nullable, as stored


def _too_much(prop: dict):
    """A value just over the limit a property's schema states, or None."""
    options = prop.get("anyOf", [prop])
    for option in options:
        if option.get("type") == "string" and "maxLength" in option:
            return "x" * (option["maxLength"] + 1)
        if option.get("type") == "integer" and "maximum" in option:
            return option["maximum"] + 1
        if option.get("type") == "integer" and "minimum" in option:
            return option["minimum"] - 1
        if option.get("type") == "array" and "maxItems" in option:
            return [{"text": "t", "role": "user", "content": "c"}] * (option["maxItems"] + 1)
    return None


@pytest.mark.django_db
def test_every_limit_the_document_states_is_enforced(document, client, end_user):
    token = services.api_token_create(user=end_user, name="app")[1]
    schema = document["components"]["schemas"]["Interaction"]
    valid = {"question": "q", "answer": "a", "model": "m"}
    tried = []
    for name, prop in schema["properties"].items():
        value = _too_much(prop)
        if value is None:
            continue
        response = client.post(
            "/api/v1/interactions",
            data=json.dumps(valid | {name: value}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 400, (name, response.content)
        assert list(response.json()["errors"]) == [name]
        tried.append(name)
    for name in schema["required"]:
        response = client.post(
            "/api/v1/interactions",
            data=json.dumps({k: v for k, v in valid.items() if k != name}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.json()["errors"] == {name: ["This field is required."]}
    assert len(tried) >= 9 and Turn.objects.count() == 0


class RatingIn(apispec.Body):
    criterion: apispec.NonBlank(100)
    value: apispec.Number


class ScoreOut(apispec.Record):
    criterion: str
    value: float


@pytest.fixture
def scores_operation():
    @apispec.operation(
        "POST",
        "/interactions/{id}/test-scores",
        summary="Score an interaction (registered by a test, as another app would)",
        request=RatingIn,
        responses={201: (ScoreOut, "Stored")},
    )
    def view(request, turn_id, *, user, body: RatingIn) -> JsonResponse:
        return apispec.respond(201, ScoreOut(criterion=body.criterion, value=body.value))

    yield view
    apispec._OPERATIONS.pop(("/interactions/{id}/test-scores", "POST"))


@pytest.mark.django_db
def test_another_app_adds_an_operation_validated_and_documented_from_its_models(
    scores_operation, client, end_user
):
    document = client.get("/api/v1/openapi.json").json()
    op = document["paths"]["/interactions/{id}/test-scores"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RatingIn"
    }
    assert set(op["responses"]) == {"201", "400", "401", "404", "405", "413"}
    assert document["components"]["schemas"]["RatingIn"]["required"] == ["criterion", "value"]

    token = services.api_token_create(user=end_user, name="app")[1]

    def call(body, method="post"):
        request = getattr(RequestFactory(), method)(
            "/x", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        return scores_operation(request, turn_id="t")

    ok = call({"criterion": "accuracy", "value": 0.5})
    assert ok.status_code == 201 and json.loads(ok.content) == {
        "criterion": "accuracy",
        "value": 0.5,
    }
    bad = call('{"criterion": "", "value": NaN, "extra": 1}')
    assert json.loads(bad.content) == {
        "errors": {
            "criterion": ["Must not be empty."],
            "value": ["Must be a finite number."],
            "extra": ["Unknown field."],
        }
    }
    assert call({}, method="get").status_code == 405


@pytest.mark.django_db
def test_two_operations_on_one_path_share_a_url_and_405_lists_both(end_user):
    ops = []
    for method in ("GET", "DELETE"):

        @apispec.operation(method, "/test-pair/{id}", summary=method, responses={200: "ok"})
        def view(request, turn_id, *, user, method=method) -> JsonResponse:
            return JsonResponse({"method": method})

        ops.append(view)
    try:
        both = apispec.endpoint(*ops)
        token = services.api_token_create(user=end_user, name="app")[1]
        factory, auth = RequestFactory(), {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        assert json.loads(both(factory.delete("/x", **auth), turn_id="t").content) == {
            "method": "DELETE"
        }
        refused = both(factory.post("/x", **auth), turn_id="t")
        assert refused.status_code == 405 and refused["Allow"] == "DELETE, GET"
        assert both(factory.get("/x"), turn_id="t").status_code == 401
    finally:
        for method in ("GET", "DELETE"):
            apispec._OPERATIONS.pop(("/test-pair/{id}", method))
