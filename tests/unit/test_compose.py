"""docker-compose.yaml says what the laptop stack says (no Docker needed: the file is only read).

`docker-compose config -q` (README) checks the Compose syntax; these check what it cannot: that the
compose stack uses the same setting names and connection shapes as scripts/env.sh, airflow.cfg and
evergreen.config.Settings, and that no secret is written into the file.
"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
from pathlib import Path

import pyspark
import pytest
import yaml

from evergreen.config import Settings
from tests.paths import REPO

COMPOSE = REPO / "docker-compose.yaml"
AIRFLOW_SERVICES = [
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT")
REQUIRED_REF = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")
# Airflow settings a container must set differently from a laptop (everything else must agree with airflow.cfg).
CONTAINER_ONLY = {("database", "sql_alchemy_conn"), ("api", "host")}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def airflow_env(compose) -> dict[str, str]:
    return compose["x-airflow-common"]["environment"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" form
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def _env_sh(*names: str) -> dict[str, str]:
    """What scripts/env.sh exports for these names by default (only its connection lines are evaluated)."""
    lines = [
        line
        for line in (REPO / "scripts" / "env.sh").read_text().splitlines()
        if line.startswith("_kafka=") or any(line.startswith(f"export {name}=") for name in names)
    ]
    script = "\n".join([*lines, *(f'printf "%s\\0" "${name}"' for name in names)])
    env = {"PATH": "/usr/bin:/bin"}  # nothing inherited: the defaults, not this shell's overrides
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    return dict(zip(names, out.stdout.split("\0")[: len(names)], strict=True))


def test_every_depends_on_target_is_a_service(compose):
    services = compose["services"]
    for name, service in services.items():
        for target in service.get("depends_on") or {}:
            assert target in services, f"{name} depends on undefined service {target}"


def test_airflow_services_share_one_image_and_environment(compose, airflow_env):
    common = compose["x-airflow-common"]
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service["image"] == common["image"], name
        assert service["build"] == common["build"], name
        assert service["environment"] == airflow_env, f"{name} does not use the x-airflow-common environment"
        assert service["volumes"] == common["volumes"], name
        for dependency, condition in common["depends_on"].items():
            assert service["depends_on"][dependency] == condition, f"{name} lost depends_on {dependency}"
    for name in AIRFLOW_SERVICES[1:]:
        init = compose["services"][name]["depends_on"]["airflow-init"]
        assert init == {"condition": "service_completed_successfully"}, name


def test_evergreen_variables_are_real_settings(compose):
    for name, service in compose["services"].items():
        for key in _env(service):
            if key.startswith("EVERGREEN_") and key not in {"EVERGREEN_REPO", "EVERGREEN_DB_PASSWORD"}:
                field = key.removeprefix("EVERGREEN_").lower()
                assert field in Settings.model_fields, f"{name}: {key} is not a field of evergreen.config.Settings"


def test_connections_are_built_as_scripts_env_sh_builds_them(airflow_env):
    local = _env_sh("AIRFLOW_CONN_KAFKA_DRIFT", "AIRFLOW_CONN_SPARK_DEFAULT")
    kafka = json.loads(airflow_env["AIRFLOW_CONN_KAFKA_DRIFT"])
    local_kafka = json.loads(local["AIRFLOW_CONN_KAFKA_DRIFT"])
    assert kafka.keys() == local_kafka.keys()
    assert kafka["extra"].keys() == local_kafka["extra"].keys()
    assert kafka["extra"]["enable.auto.commit"] == "false"
    assert kafka["extra"]["group.id"] == local_kafka["extra"]["group.id"] == "evergreen-drift-watcher"
    assert kafka["extra"]["bootstrap.servers"] == airflow_env["EVERGREEN_KAFKA_BOOTSTRAP"]
    spark = json.loads(airflow_env["AIRFLOW_CONN_SPARK_DEFAULT"])
    local_spark = json.loads(local["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert spark.keys() == local_spark.keys()
    assert spark["host"] == airflow_env["EVERGREEN_SPARK_MASTER"]


def test_no_secret_is_written_in_the_file(compose):
    for name, service in [("x-airflow-common", compose["x-airflow-common"]), *compose["services"].items()]:
        for key, value in _env(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_REF.match(value), f"{name}: {key} must be a required ${{VAR:?...}} reference"
    for text in _strings(compose):
        for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", text):
            assert REQUIRED_REF.match(password), f"a password is written into a URL: {text}"


def test_every_required_variable_is_in_env_example():
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.MULTILINE))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    assert required <= documented, f"missing from .env.example: {sorted(required - documented)}"
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_login_is_required_as_airflow_cfg_says(airflow_env):
    assert airflow_env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    assert airflow_env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False").lower() != "true"
    assert airflow_env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")


def test_airflow_overrides_agree_with_airflow_cfg(compose, airflow_env):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "airflow.cfg")
    assert "./airflow.cfg:/opt/airflow/airflow.cfg:ro" in compose["x-airflow-common"]["volumes"]
    assert airflow_env["AIRFLOW_CONFIG"] == "/opt/airflow/airflow.cfg"
    for key, value in airflow_env.items():
        match = re.fullmatch(r"AIRFLOW__([A-Z_]+?)__([A-Z_]+)", key)
        if not match:
            continue
        section, option = match[1].lower(), match[2].lower()
        if (section, option) in CONTAINER_ONLY or not cfg.has_option(section, option):
            continue
        assert value.lower() == cfg.get(section, option).lower(), f"{key} differs from airflow.cfg"


def test_kafka_init_creates_the_configured_topics(compose, airflow_env):
    script = "\n".join(_strings(compose["services"]["kafka-init"]["command"]))
    created = set(re.findall(r"--topic\s+(\S+)", script))

    def expected(field: str) -> str:
        return airflow_env.get(f"EVERGREEN_{field.upper()}", Settings.model_fields[field].default)

    assert created == {expected("kafka_drift_topic"), expected("kafka_dead_letter_topic")}
    assert "--if-not-exists" in script
    assert compose["services"]["kafka-init"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}


def test_spark_submit_gets_the_same_s3a_packages(airflow_env):
    defaults = (REPO / "docker" / "spark" / "spark-defaults.conf").read_text()
    packages = re.search(r"^spark\.jars\.packages\s+(\S+)", defaults, re.MULTILINE)
    assert packages, "spark-defaults.conf sets no spark.jars.packages"
    assert packages[1] == airflow_env["EVERGREEN_SPARK_PACKAGES"]
    bundled = {p.name for p in (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")}
    version = packages[1].rsplit(":", 1)[1]
    assert bundled == {f"hadoop-client-api-{version}.jar"}, "hadoop-aws must match pyspark's bundled Hadoop"


def test_the_evergreen_db_is_migrated_once_before_any_airflow_service(compose, airflow_env):
    """Tasks only check the evergreen DB's revision (evergreen.storage.migrate): a one-shot service upgrades
    it, with the Airflow services' own image, environment (the same EVERGREEN_EVERGREEN_DB_URL) and code."""
    common, services = compose["x-airflow-common"], compose["services"]
    init = services["evergreen-db-init"]
    assert init["image"] == common["image"]
    assert init["environment"] == airflow_env
    assert init["volumes"] == common["volumes"]
    # The Airflow image's entrypoint runs a `python` command as is; the module is the `evergreen` command.
    assert init["command"] == ["python", "-m", "evergreen.cli", "db", "upgrade"]
    assert init["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert init["restart"] == "no"
    for name in AIRFLOW_SERVICES[1:]:
        assert services[name]["depends_on"]["evergreen-db-init"] == {"condition": "service_completed_successfully"}
    assert "postgres:5432/evergreen" in airflow_env["EVERGREEN_EVERGREEN_DB_URL"]


def test_no_mount_or_copy_of_a_sql_folder():
    """The SQL ships inside the package (migrations, the generator's source DDL): nothing reads a sql/ folder."""
    assert not (REPO / "sql").exists()
    assert "sql/" not in (REPO / "docker" / "airflow.Dockerfile").read_text()
    assert "./sql:" not in COMPOSE.read_text()


def test_every_copy_source_of_the_images_exists():
    """`docker build` fails on a missing COPY source; here there is no engine to find out, so check the paths."""
    for dockerfile in sorted((REPO / "docker").glob("*.Dockerfile")):
        for line in dockerfile.read_text().splitlines():
            words = line.split()
            if not words or words[0] != "COPY":
                continue
            sources = [w for w in words[1:-1] if not w.startswith("--")]
            assert sources, f"{dockerfile.name}: COPY without a source: {line}"
            for source in sources:
                assert (REPO / source).exists(), f"{dockerfile.name}: COPY source {source} is not in the repository"


def test_the_daily_steps_run_on_the_compose_cluster(compose, airflow_env):
    """The compose stack runs Spark as the laptop's scripts/spark-cluster.sh does (standalone master and worker
    from the pyspark package's spark-class), on the Airflow image, and submits the daily steps to it."""
    services = compose["services"]
    master_url = airflow_env["EVERGREEN_SPARK_MASTER"]
    assert master_url == json.loads(airflow_env["AIRFLOW_CONN_SPARK_DEFAULT"])["host"]
    assert master_url.startswith("spark://spark-master:")
    port = master_url.rsplit(":", 1)[1]
    local_script = (REPO / "scripts" / "spark-cluster.sh").read_text()
    for name, daemon in (("spark-master", "Master"), ("spark-worker", "Worker")):
        service = services[name]
        assert service["image"] == compose["x-airflow-common"]["image"], name
        (command,) = service["command"]
        assert f"org.apache.spark.deploy.{daemon.lower()}.{daemon}" in command
        assert f"org.apache.spark.deploy.{daemon.lower()}.{daemon}" in local_script
    assert f"--port {port}" in services["spark-master"]["command"][0]
    assert services["spark-worker"]["command"][0].endswith(master_url)
    # Executors touch the lake (s3a://) as the driver does: the same endpoint, keys and s3a defaults.
    worker_env = _env(services["spark-worker"])
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "SPARK_CONF_DIR"):
        assert worker_env[key] == airflow_env[key], key
    for name in AIRFLOW_SERVICES[1:]:
        assert services[name]["depends_on"]["spark-worker"] == {"condition": "service_healthy"}, name
