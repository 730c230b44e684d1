"""requestMetadata is recorded and held to Bedrock's limits; application inference profiles run on their model."""

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.bedrock.support import SONNET_46, client, cp, prompt_of, user

HELLO = [user("Hello")]


def control_client(emulator):
    return boto3.client(
        "bedrock",
        region_name="us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def rejection(bedrock, metadata) -> str:
    with pytest.raises(ClientError) as caught:
        bedrock.converse(modelId=SONNET_46, messages=HELLO, requestMetadata=metadata)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return caught.value.response["Error"]["Message"]


def test_request_metadata_is_recorded_with_the_call(bedrock_emulator):
    bedrock = client(bedrock_emulator.url)
    metadata = {"tenant_id": "7", "session_id": "s-1:a.b", "note": "with spaces @ $ # = / + , - ."}
    bedrock.converse(modelId=SONNET_46, messages=HELLO, requestMetadata=metadata)
    bedrock.converse(modelId=SONNET_46, messages=HELLO)

    with_metadata, without = bedrock_emulator.requests[-2:]
    assert with_metadata["requestMetadata"] == metadata
    assert without["requestMetadata"] is None


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({f"k{i}": "v" for i in range(17)}, "Member must have length less than or equal to 16"),
        ({"k" * 257: "v"}, "Map keys must satisfy constraint"),
        ({"json": '{"a": 1}'}, "Map value must satisfy constraint"),
        ({"k": "v" * 257}, "Map value must satisfy constraint"),
        ({"k{": "v"}, "Map keys must satisfy constraint"),
    ],
)
def test_metadata_beyond_bedrocks_limits_is_refused_as_bedrock_refuses_it(bedrock_emulator, metadata, message):
    text = rejection(client(bedrock_emulator.url), metadata)
    assert text.startswith("1 validation error detected: Value at 'requestMetadata' failed to satisfy constraint: ")
    assert message in text
    assert "v" * 257 not in text and "json" not in text  # the map is sensitive: its contents are never echoed


def test_metadata_at_the_limits_is_accepted(bedrock_emulator):
    metadata = {f"{i:02d}" + "k" * 254: "v" * 256 for i in range(16)}
    metadata["00" + "k" * 254] = ""  # values may be empty
    client(bedrock_emulator.url).converse(modelId=SONNET_46, messages=HELLO, requestMetadata=metadata)
    assert bedrock_emulator.requests[-1]["requestMetadata"] == metadata


def test_an_application_profile_runs_on_its_model_and_caches(bedrock_emulator):
    control = control_client(bedrock_emulator)
    source = control.get_inference_profile(inferenceProfileIdentifier=SONNET_46)
    assert source["type"] == "SYSTEM_DEFINED"
    created = control.create_inference_profile(
        inferenceProfileName="t1-sonnet",
        modelSource={"copyFrom": source["inferenceProfileArn"]},
        tags=[{"key": "agent-platform:tenant", "value": "acme"}],
    )
    arn = created["inferenceProfileArn"]
    assert ":application-inference-profile/" in arn
    profile = control.get_inference_profile(inferenceProfileIdentifier=arn)
    assert profile["type"] == "APPLICATION" and profile["inferenceProfileName"] == "t1-sonnet"
    assert profile["models"] == [
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-6"}
    ]
    assert control.list_tags_for_resource(resourceARN=arn)["tags"] == [
        {"key": "agent-platform:tenant", "value": "acme"}
    ]
    assert [p["inferenceProfileArn"] for p in control.list_inference_profiles()["inferenceProfileSummaries"]] == [arn]

    with pytest.raises(ClientError) as conflict:
        control.create_inference_profile(
            inferenceProfileName="t1-sonnet", modelSource={"copyFrom": source["inferenceProfileArn"]}
        )
    assert conflict.value.response["Error"]["Code"] == "ConflictException"

    bedrock = client(bedrock_emulator.url)
    system = [{"text": prompt_of(2100)}, cp()]
    first = bedrock.converse(modelId=arn, system=system, messages=HELLO)["usage"]
    second = bedrock.converse(modelId=arn, system=system, messages=HELLO)["usage"]
    assert first["cacheWriteInputTokens"] > 0 and second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    assert bedrock_emulator.requests[-1]["modelId"] == arn


def test_an_unknown_application_profile_is_an_invalid_model(bedrock_emulator):
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/nosuchprofile"
    with pytest.raises(ClientError) as caught:
        client(bedrock_emulator.url).converse(modelId=arn, messages=HELLO)
    assert caught.value.response["Error"]["Message"] == "The provided model identifier is invalid."
