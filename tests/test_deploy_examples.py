"""deploy/kubernetes.yaml, checked offline: its objects fit together and with the
service (settings it reads, the port it binds, /health, gunicorn's graceful
timeout). No cluster: this is not kubectl's validation, only what we can know here."""

from __future__ import annotations

import re

import pytest
import yaml

from api import MAX_BODY_BYTES
from api.openapi import build_spec
from text_similarity_model import settings
from text_similarity_model.model_file import SIGNING_KEY_VARIABLE
from text_similarity_model.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "deploy" / "kubernetes.yaml"


@pytest.fixture(scope="module")
def objects() -> dict:
    documents = [document for document in yaml.safe_load_all(EXAMPLE.read_text()) if document]
    by_kind = {document["kind"]: document for document in documents}
    assert sorted(by_kind) == ["Deployment", "PersistentVolumeClaim", "Service"]
    return by_kind


def test_the_pods_serve_the_shared_store_with_the_settings_the_service_reads(objects):
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][-2:] == ["-c", "gunicorn.conf.py"]
    env = {variable["name"]: variable for variable in container["env"]}
    known = {value.name for value in vars(settings).values() if isinstance(value, settings.Setting)}
    assert set(env) <= known | {SIGNING_KEY_VARIABLE}, set(env) - known
    assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"] and "secretKeyRef" in env[SIGNING_KEY_VARIABLE]["valueFrom"]

    (mount,) = container["volumeMounts"]
    assert env["MODELS_DIR"]["value"] == mount["mountPath"]
    volume = next(volume for volume in pod["volumes"] if volume["name"] == mount["name"])
    claim = objects["PersistentVolumeClaim"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # every pod, on any node


def test_a_pod_gets_traffic_once_health_answers(objects):
    deployment = objects["Deployment"]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    (port,) = container["ports"]
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    assert env["BIND"] == f"0.0.0.0:{port['containerPort']}"
    assert "/health" in build_spec(MAX_BODY_BYTES)["paths"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": port["name"]}, probe
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])

    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    service = objects["Service"]["spec"]
    assert service["selector"].items() <= pod["metadata"]["labels"].items()
    assert {entry["targetPort"] for entry in service["ports"]} == {port["name"]}


def test_a_stopping_pod_has_time_to_finish_its_requests(objects):
    graceful = int(re.search(r"^graceful_timeout = (\d+)$", (REPO_ROOT / "gunicorn.conf.py").read_text(), re.M)[1])
    assert objects["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > graceful
