"""deploy/: what can be checked without a container runtime or a cluster — the files parse, the
instance file is one Dagster accepts (opened against the real PostgreSQL), every command and module
they name exists, and the image installs the way the README says."""

from __future__ import annotations

import importlib
import itertools
import os
import shutil
from pathlib import Path

import dagster as dg
import yaml

from assets.automation import STATE_TAG

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(os.sys.executable).parent


def _load(name: str):
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def test_every_deploy_file_parses():
    for path in [*DEPLOY.glob("*.yaml"), *DEPLOY.glob("helm/*.yaml")]:
        assert yaml.safe_load(path.read_text(encoding="utf-8")), path


def test_the_production_instance_is_one_dagster_opens_in_postgres(tmp_path, postgres_url, monkeypatch):
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("GONGSHI_DAGSTER_POSTGRES_URL", postgres_url.replace("postgresql://", "postgresql+psycopg2://"))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert [(limit["key"], limit["limit"]) for limit in limits] == [(next(iter(STATE_TAG)), 1)]


def test_compose_services_name_real_commands_volumes_and_settings():
    compose = _load("compose.yaml")
    services, volumes = compose["services"], set(compose["volumes"])
    assert {"postgres", "redis", "code", "webserver", "daemon", "worker", "web"} <= set(services)
    for name, service in services.items():
        assert service.get("image"), name
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source in volumes or (DEPLOY / source).is_file(), (name, mount)
        command = service.get("command")
        if command and service["image"].startswith("gongshi"):
            assert (VENV_BIN / command[0]).is_file(), (name, command[0])  # installed by the production extra
            for flag, value in itertools.pairwise(command):
                if flag in {"-w", "-y"}:
                    assert (DEPLOY / Path(value).name).is_file(), value
    web = services["web"]
    assert "public:/usr/share/nginx/html:ro" in web["volumes"]  # the web server reads public/ only
    assert not any(v.startswith("state:") for v in web["volumes"])  # and never the state directory
    environment = services["code"]["environment"]
    assert "GONGSHI_DAGSTER_POSTGRES_URL" in environment and "GONGSHI_PSEUDONYM_KEY" in environment


def test_the_image_installs_as_the_readme_says_and_serves_the_code_location():
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python3 -m venv" in dockerfile and 'pip install --no-cache-dir -e ".[production]"' in dockerfile
    assert 'pip install -e ".[production]"' in readme
    assert "cp deploy/dagster.yaml" in dockerfile
    module, attribute = "assets.definitions", "defs"
    assert f'"-m", "{module}", "-a", "{attribute}"' in dockerfile
    assert hasattr(importlib.import_module(module), attribute)
    workspace = _load("workspace.yaml")
    assert workspace["load_from"][0]["grpc_server"]["port"] == 4000 and "EXPOSE 4000" in dockerfile


def test_helm_values_run_the_image_with_the_shared_volume_and_the_queue():
    values = _load("helm/values.yaml")
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "assets.definitions", "-a", "defs"]
    claim = _load("helm/storage.yaml")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for where in (deployment, values["runLauncher"]["config"]["k8sRunLauncher"]):
        assert where["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        assert where["volumeMounts"][0]["mountPath"] == "/srv/gongshi"
    queue = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["tagConcurrencyLimits"] == [{"key": next(iter(STATE_TAG)), "limit": 1}]
    assert values["runLauncher"]["type"] in {"K8sRunLauncher", "CeleryK8sRunLauncher"}
