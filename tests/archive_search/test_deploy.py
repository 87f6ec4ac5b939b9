"""The deployment files agree with what the tests run: the compose file is valid (checked by the
Docker Compose client itself; no engine is needed) and names the OpenSearch version that
``deploy/opensearch-node`` builds from Maven Central and the test suite runs against."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
POM = REPO / "deploy" / "opensearch-node" / "pom.xml"
NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _compose_cmd() -> list[str]:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("no Docker Compose client (scripts/setup.sh --dev installs Debian's docker-compose)")


def _pom_property(name: str) -> str:
    node = ET.parse(POM).getroot().find(f"m:properties/m:{name}", NS)
    assert node is not None and node.text, f"{name} missing from {POM}"
    return node.text.strip()


def test_compose_file_is_valid_and_resolves() -> None:
    env = {**os.environ, "ARCHIVE_DB_PASSWORD": "check-only"}
    proc = subprocess.run(
        [*_compose_cmd(), "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True, text=True, env=env, check=False, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    services = config["services"]
    assert {"postgres", "opensearch", "api", "worker"} <= set(services)
    for name in ("api", "worker"):
        env_ = services[name]["environment"]
        assert env_["ARCHIVE_BACKEND"] == "opensearch"
        assert env_["ARCHIVE_OPENSEARCH_URL"].startswith("http://opensearch:")


def test_compose_runs_the_opensearch_version_the_tests_run() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text("utf-8"))
    image = compose["services"]["opensearch"]["image"]
    m = re.fullmatch(r"opensearchproject/opensearch:(\S+)", image)
    assert m, image
    assert m.group(1) == _pom_property("opensearch.version")
    # the k-NN plugin ships inside the image; its Maven version is the server's plus a fourth digit
    assert _pom_property("knn.version").startswith(m.group(1) + ".")


def test_live_node_is_that_version(live_opensearch: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(live_opensearch, timeout=10) as resp:
        info = json.load(resp)
    assert info["version"]["number"] == _pom_property("opensearch.version")
    with urllib.request.urlopen(live_opensearch + "/_cat/plugins?format=json", timeout=10) as resp:
        plugins = {p["component"] for p in json.load(resp)}
    # the node loads its modules and plugins from the classpath, listed by class name
    assert {
        "org.opensearch.knn.plugin.KNNPlugin",
        "org.opensearch.analysis.common.CommonAnalysisPlugin",
        "org.opensearch.transport.Netty4Plugin",
    } <= plugins, plugins
