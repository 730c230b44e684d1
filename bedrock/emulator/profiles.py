"""A small stand-in for Bedrock's control plane: application inference profiles [BR-PROFILE].

``CreateInferenceProfile`` copies a foundation model or a system-defined
inference profile (``modelSource.copyFrom``, an ARN) into an application
profile with tags; ``GetInferenceProfile`` answers for both kinds;
``ListInferenceProfiles`` lists them. A model call whose ``modelId`` is an
application profile's ARN runs on the model it copies, with the same prompt
cache, as on Bedrock; an ARN the emulator never created is an invalid model
identifier. Profiles are account resources: ``/_emulator/reset`` keeps them.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import unquote

from bedrock import facts
from bedrock.engine import INVALID_MODEL_MESSAGE
from bedrock.errors import BedrockError, validation

ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
APPLICATION = "APPLICATION"
SYSTEM_DEFINED = "SYSTEM_DEFINED"
MAX_TAGS = 200

_NAME = re.compile(facts.INFERENCE_PROFILE_NAME_PATTERN)
_APPLICATION_ARN = re.compile(facts.APPLICATION_PROFILE_ARN)
_FOUNDATION_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:([0-9a-z-]*)::foundation-model/(.+)")
_SYSTEM_ARN = re.compile(r"arn:aws[a-z-]*:bedrock:([0-9a-z-]*):[0-9]{12}:inference-profile/(.+)")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def model_arn(region: str, model_id: str) -> str:
    return f"arn:aws:bedrock:{region}::foundation-model/{facts.base_model_id(model_id)}"


class InferenceProfiles:
    def __init__(self, region: str = DEFAULT_REGION):
        self.region = region
        self._lock = threading.Lock()
        self._profiles: dict[str, dict] = {}  # by ARN
        self._targets: dict[str, str] = {}  # application ARN -> the model id calls run on

    def create(self, body: dict) -> dict:
        name = body.get("inferenceProfileName")
        if not isinstance(name, str) or len(name) > facts.INFERENCE_PROFILE_NAME_MAX or not _NAME.fullmatch(name):
            raise validation(
                "1 validation error detected: Value at 'inferenceProfileName' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {facts.INFERENCE_PROFILE_NAME_PATTERN}"
            )
        source = ((body.get("modelSource") or {}).get("copyFrom")) or ""
        target = self._copy_source(source)
        tags = body.get("tags") or []
        if len(tags) > MAX_TAGS:
            raise BedrockError("ValidationException", f"An inference profile takes at most {MAX_TAGS} tags.")
        with self._lock:
            if any(p["inferenceProfileName"] == name for p in self._profiles.values()):
                raise BedrockError("ConflictException", f"An inference profile named {name} already exists.")
            profile_id = uuid.uuid4().hex[:12]
            arn = f"arn:aws:bedrock:{self.region}:{ACCOUNT}:application-inference-profile/{profile_id}"
            now = _now()
            self._profiles[arn] = {
                "inferenceProfileName": name,
                **({"description": body["description"]} if body.get("description") else {}),
                "createdAt": now,
                "updatedAt": now,
                "inferenceProfileArn": arn,
                "models": [{"modelArn": model_arn(self.region, target)}],
                "inferenceProfileId": profile_id,
                "status": "ACTIVE",
                "type": APPLICATION,
                "tags": [{"key": t["key"], "value": t["value"]} for t in tags],
            }
            self._targets[arn] = target
        return {"inferenceProfileArn": arn, "status": "ACTIVE"}

    def _copy_source(self, source: str) -> str:
        """The model id a copy of `source` runs on; a ValidationException when Bedrock would not know it."""
        for pattern in (_FOUNDATION_ARN, _SYSTEM_ARN):
            match = pattern.fullmatch(source)
            if match and facts.resolve_model(match.group(2)) is not None:
                return match.group(2)
        raise validation(f"The model source {source or '(none)'} is not a model or inference profile ARN you can copy.")

    def get(self, identifier: str) -> dict:
        identifier = unquote(identifier)
        with self._lock:
            profile = self._profiles.get(identifier) or next(
                (p for p in self._profiles.values() if p["inferenceProfileId"] == identifier), None
            )
        if profile is not None:
            return {k: v for k, v in profile.items() if k != "tags"}
        system_id = identifier.rsplit("/", 1)[-1]
        if system_id != facts.base_model_id(system_id) and facts.resolve_model(system_id) is not None:
            return self._system_defined(system_id)
        raise BedrockError("ResourceNotFoundException", f"The inference profile {identifier} does not exist.")

    def _system_defined(self, profile_id: str) -> dict:
        return {
            "inferenceProfileName": profile_id,
            "inferenceProfileArn": f"arn:aws:bedrock:{self.region}:{ACCOUNT}:inference-profile/{profile_id}",
            "models": [{"modelArn": model_arn(self.region, profile_id)}],
            "inferenceProfileId": profile_id,
            "status": "ACTIVE",
            "type": SYSTEM_DEFINED,
        }

    def list(self, kind: str | None = None) -> dict:
        with self._lock:
            profiles = [{k: v for k, v in p.items() if k != "tags"} for p in self._profiles.values()]
        if kind not in (None, APPLICATION):
            profiles = []
        return {"inferenceProfileSummaries": profiles}

    def tags(self, arn: str) -> list[dict]:
        with self._lock:
            profile = self._profiles.get(arn)
        if profile is None:
            raise BedrockError("ResourceNotFoundException", f"The resource {arn} does not exist.")
        return list(profile["tags"])

    def resolve(self, model_id: str) -> str:
        """The model id a call with `model_id` runs on: an application profile's model, else `model_id` itself."""
        if not _APPLICATION_ARN.fullmatch(model_id):
            return model_id
        with self._lock:
            target = self._targets.get(model_id)
        if target is None:
            raise validation(INVALID_MODEL_MESSAGE)
        return target
