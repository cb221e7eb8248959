"""The whole product on loopback: DynamoDB Local, moto's Secrets Manager, simulated providers, gateway, and for
browsers the demo page, Swagger UI and a phone proxy."""

from __future__ import annotations

import json
import os
import secrets as random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sandbox import web
from sandbox.clock import SandboxClock
from sandbox.httpserver import RunningServer, serve
from sandbox.local_aws import services as aws
from sandbox.local_aws.functions import read_functions
from sandbox.local_aws.gateway import Gateway, start_gateway
from sandbox.simulators import camara as camara_sim
from sandbox.simulators import infobip as infobip_sim
from sandbox.simulators import network as network_sim
from sandbox.simulators import truid as truid_sim
from sandbox.simulators.network_client import register_partner
from sandbox.web.phone import PhoneProxy, start_phone_proxy

STATE_FILE = aws.CACHE_DIR / "stack.json"
TABLE_NAME = "silentcheck-sandbox-checks"
IDEMPOTENCY_TABLE_NAME = "silentcheck-sandbox-idempotency"
SECRET_NAME = "silentcheck/sandbox"  # the main secret: pepper, CAMARA, Infobip
CALLBACK_SECRET_NAME = "silentcheck/sandbox-callbacks"  # what provider_callback may read: tru.ID
# A client secret with every character RFC 6749 §2.3.1's form-encoding changes (many providers issue
# base64 secrets): a client that sends the raw pair in Basic fails with it, as at a compliant server.
SYMBOLS_SECRET = "b64+/x==%3A:é secret"
TRUID_PROJECTS = {
    "sandbox-live-client": ("sandbox-live-secret", "live"),
    "sandbox-digits-client": ("sandbox-digits-secret", "sandbox"),
    "sandbox-symbols-client": (SYMBOLS_SECRET, "live"),
}
# The aggregator's clients: one authenticates with a secret (Basic), one with a key (private_key_jwt);
# `mock_sandbox_app_id` follows Telefónica's mock convention (last digit 1 verifies, 2 does not).
CAMARA_CLIENTS = {
    "sandbox-camara-client": ("sandbox-camara-secret", "live"),
    "sandbox-camara-jwt-client": (None, "live"),
    "mock_sandbox_app_id": ("mock_sandbox_app_secret", "mock"),
    "sandbox-camara-symbols-client": (SYMBOLS_SECRET, "live"),
    "sandbox-camara-fapi-client": (None, "live"),
}
# What each private_key_jwt client's registration wants as its assertions' `aud` (secret key
# camara.assertion_audience must agree): the endpoint's URL, or the issuer alone (FAPI 2.0).
CAMARA_ASSERTION_AUDIENCES = {"sandbox-camara-jwt-client": "token_endpoint", "sandbox-camara-fapi-client": "issuer"}
INFOBIP_API_KEY = "sandbox-infobip-api-key"
# The sandbox's routing table exercises all three providers: Spain → CAMARA first, Brazil → Infobip
# (its OK flow), Germany → Infobip then tru.ID, everything else → tru.ID then Infobip.
SANDBOX_ROUTING: dict[str, Any] = {
    "default": ["truid", "infobip"],
    "countries": {"34": ["camara", "truid"], "55": ["infobip"], "49": ["infobip", "truid"]},
    "app_may_choose": ["truid", "camara", "infobip"],
}
# Roomier than the template's defaults, so trying numbers by hand does not run into them.
SANDBOX_LIMITS: dict[str, Any] = {
    "number": {"count": 20, "window_seconds": 600},
    "ip": {"count": 300, "window_seconds": 600},
    "global": {"count": 3000, "window_seconds": 600},
}
CAMARA_SCOPE = "openid dpv:FraudPreventionAndDetection number-verification:verify"
CAMARA_API_VERSION = "v2"
CAMARA_KEY_ID = "sandbox-camara-client-key"
# Simulated providers retry undelivered callbacks quickly (the real ones wait 10 s and more).
CALLBACK_RETRY_DELAYS = (0.5, 1.0, 2.0)
CamaraClientAuth = Literal["client_secret_basic", "private_key_jwt"]
SigningSlot = Literal["blue", "green"]
SIGNING_KEY_VARIABLES = ("SIGNING_KEY_ID", "PREVIOUS_SIGNING_KEY_ID")


@dataclass
class Stack:
    dynamodb: aws.DynamoDBLocal
    moto: aws.MotoServer
    network: RunningServer
    truid: RunningServer
    truid_simulator: truid_sim.TruIdSimulator
    camara: RunningServer
    camara_simulator: camara_sim.CamaraSimulator
    camara_key_pem: str  # the private_key_jwt client's key (its public half is registered with the aggregator)
    infobip: RunningServer
    infobip_simulator: infobip_sim.InfobipSimulator
    gateway: Gateway
    secret_value: dict[str, Any]  # the main secret as seeded
    callback_secret_value: dict[str, Any]  # the callback secret as seeded
    api_key: str  # the sandbox backend's API key (x-api-key), needed while ClientAuth is api_key
    signing_key_id: str  # moto's KMS key that signs attestations
    signing_keys: dict[str, str]  # the template's signing key slot (logical id) -> the moto key in it
    phone_proxy: PhoneProxy  # a browser's mobile connection (sandbox/web/phone.py), for the demo page
    clock: SandboxClock  # the aggregator's clock; tests move it forward (sandbox/clock.py)

    @property
    def demo_url(self) -> str:
        return f"{self.gateway.api.base_url}{web.DEMO_PATH}"

    @property
    def api_url(self) -> str:
        return self.gateway.api_url

    def urls(self) -> dict[str, str]:
        return {
            "api": self.api_url,
            "demo": self.demo_url,
            "swagger ui": f"{self.gateway.api.base_url}{web.DOCS_PATH}",
            "phone proxy": self.phone_proxy.url,
            "callback": self.gateway.callback_url,
            "network": self.network.base_url,
            "truid": self.truid.base_url,
            "camara": self.camara.base_url,
            "infobip": self.infobip.base_url,
            "dynamodb": self.dynamodb.endpoint,
            "secretsmanager": self.moto.endpoint,
        }

    def state(self) -> dict[str, str]:
        """What `python -m sandbox verify` needs to use this running stack: its URLs and API key."""
        return {**self.urls(), "api_key": self.api_key}

    def configure_truid(self, api_version: Literal["v0.1", "v0.2"] = "v0.2",
                        mode: Literal["live", "sandbox"] = "live", client_id: str | None = None) -> None:
        """Point the secret at another tru.ID project (`client_id`, else the first in `mode`) or API version
        (takes effect on the next request)."""
        client_id = client_id or next(c for c, (_, m) in TRUID_PROJECTS.items() if m == mode)
        self.callback_secret_value["truid"] = {
            "base_url": self.truid.base_url,
            "client_id": client_id,
            "client_secret": TRUID_PROJECTS[client_id][0],
            "api_version": api_version,
        }
        self.seed_secrets()

    def configure_camara(self, *, client_auth: CamaraClientAuth = "client_secret_basic", mock: bool = False,
                         client_id: str | None = None, **options: Any) -> None:
        """Point the secret's `camara` section at the simulated aggregator as one of its clients (`client_id`
        of CAMARA_CLIENTS, else the default for `client_auth` and `mock`); `options` are further keys of
        that section (scope, login_hint, number_format, operation, discovery, require_iss, …)."""
        if client_auth == "private_key_jwt":
            client_id = client_id or "sandbox-camara-jwt-client"
            credentials = {"private_key": self.camara_key_pem, "key_id": CAMARA_KEY_ID}
        else:
            client_id = client_id or ("mock_sandbox_app_id" if mock else "sandbox-camara-client")
            credentials = {"client_secret": str(CAMARA_CLIENTS[client_id][0])}
        self.secret_value["camara"] = {
            "issuer": self.camara.base_url,
            "api_base_url": f"{self.camara.base_url}/number-verification/{CAMARA_API_VERSION}",
            "client_id": client_id,
            "client_auth": client_auth,
            "scope": CAMARA_SCOPE,
            **credentials,
            **options,
        }
        self.seed_secrets()

    def configure_infobip(self, api_key: str = INFOBIP_API_KEY) -> None:
        """Point the secret's `infobip` section at the simulated Infobip."""
        self.secret_value["infobip"] = {"base_url": self.infobip.base_url, "api_key": api_key}
        self.seed_secrets()

    def seed_secrets(self) -> None:
        """Store secret_value and callback_secret_value as they are now (effective on the next request). A secret
        already holding that value is left alone: each write would add a version moto keeps for good."""
        secretsmanager = aws.client("secretsmanager", self.moto.endpoint)
        for name, value in ((SECRET_NAME, self.secret_value), (CALLBACK_SECRET_NAME, self.callback_secret_value)):
            try:
                stored = json.loads(secretsmanager.get_secret_value(SecretId=name)["SecretString"])
            except secretsmanager.exceptions.ResourceNotFoundException:
                stored = None
            if stored != value:
                aws.seed_secret(secretsmanager, name, value)
        forget_function_caches()

    def configure_routing(self, table: dict[str, Any] | None = None) -> None:
        """Give the functions another routing table (takes effect on the next request, as in a new container)."""
        os.environ["ROUTING"] = json.dumps(table or SANDBOX_ROUTING)
        forget_function_caches()

    def configure_limits(self, limits: dict[str, Any] | None = None) -> None:
        """Give the functions other start budgets (from the next request, as in a new container)."""
        os.environ["LIMITS"] = json.dumps(SANDBOX_LIMITS if limits is None else limits)
        forget_function_caches()

    def reset_counters(self) -> None:
        """Forget every start counted and close every provider's circuit breaker: both live in the table,
        across containers (one scan)."""
        from silentcheck.store import keys

        self._delete_items(keys.LIMIT, keys.BREAKER)

    def forget_idempotency_records(self) -> None:
        """Empty the idempotency table: a key remembered by an earlier test (the OpenAPI example's, sent by the
        fuzzer with another body) would answer a later test's start 422 IDEMPOTENCY_KEY_REUSED."""
        dynamodb = aws.client("dynamodb", self.dynamodb.endpoint)
        key_names = [part["AttributeName"] for part in
                     dynamodb.describe_table(TableName=IDEMPOTENCY_TABLE_NAME)["Table"]["KeySchema"]]
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=IDEMPOTENCY_TABLE_NAME, ProjectionExpression=", ".join(f"#k{n}" for n in range(len(key_names))),
            ExpressionAttributeNames={f"#k{n}": name for n, name in enumerate(key_names)})
        for item in (item for page in pages for item in page["Items"]):
            dynamodb.delete_item(TableName=IDEMPOTENCY_TABLE_NAME, Key=item)

    def _delete_items(self, *prefixes: str) -> None:
        """Delete every item of the checks table whose key starts with one of `prefixes`."""
        from silentcheck.store import keys

        dynamodb = aws.client("dynamodb", self.dynamodb.endpoint)
        values = {f":p{n}": {"S": prefix} for n, prefix in enumerate(prefixes)}
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=TABLE_NAME, ProjectionExpression=keys.PARTITION_KEY, ExpressionAttributeValues=values,
            FilterExpression=" OR ".join(f"begins_with({keys.PARTITION_KEY}, {name})" for name in values))
        found = [keys.item_key(item[keys.PARTITION_KEY]["S"]) for page in pages for item in page["Items"]]
        for start in range(0, len(found), 25):  # BatchWriteItem's limit
            batch = [{"DeleteRequest": {"Key": key}} for key in found[start:start + 25]]
            unprocessed: Any = {TABLE_NAME: batch}
            while unprocessed:
                unprocessed = dynamodb.batch_write_item(RequestItems=unprocessed).get("UnprocessedItems")

    def deploy_signing_keys(self, active: SigningSlot = "blue", keep_previous: bool = False) -> None:
        """What a deploy with these ActiveSigningKey and KeepPreviousSigningKey values does to the signing keys,
        from the next request on: a slot's key is created when the slot first holds one and forgotten once it
        no longer does; poll_result signs with the key and publishes the keys its environment names in the
        template for these values (docs/integration.md, Rotating the signing key)."""
        slots = signing_slots({"ActiveSigningKey": active, "KeepPreviousSigningKey": str(keep_previous).lower()})
        kms = aws.client("kms", self.moto.endpoint)
        self.signing_keys = {slot: self.signing_keys.get(slot) or aws.create_signing_key(kms)
                             for slot in slots.values() if slot}
        for variable, slot in slots.items():
            os.environ[variable] = self.signing_keys[slot] if slot else ""
        self.signing_key_id = self.signing_keys[str(slots["SIGNING_KEY_ID"])]
        forget_function_caches()

    def configure_api(self, client_auth: Literal["api_key", "none"] | None = None,
                      cors_origins: str | None = None, allow_unbound_checks: bool | None = None) -> None:
        """Serve the API as deployed with these ClientAuth, CorsAllowedOrigins and AllowUnboundChecks values
        (None: the template's default), from the next request on."""
        unbound = None if allow_unbound_checks is None else str(allow_unbound_checks).lower()
        parameters = {name: value for name, value in (("ClientAuth", client_auth),
                                                      ("CorsAllowedOrigins", cors_origins),
                                                      ("AllowUnboundChecks", unbound)) if value is not None}
        self.gateway.configure(parameters)
        forget_function_caches()

    def stop(self) -> None:
        for part in (self.phone_proxy, self.gateway, self.infobip, self.camara, self.truid, self.network, self.moto,
                     self.dynamodb):
            part.stop()
        if read_state() == self.state():  # another sandbox may be serving: leave its state alone
            STATE_FILE.unlink(missing_ok=True)


def signing_slots(parameters: dict[str, str]) -> dict[str, str | None]:
    """Which key slot (the template's AWS::KMS::Key logical id) the signing function's SIGNING_KEY_ID and
    PREVIOUS_SIGNING_KEY_ID name when deployed with `parameters`; None where the variable is empty."""
    (signer,) = [f for f in read_functions(parameters=parameters) if SIGNING_KEY_VARIABLES[0] in f.environment]
    named = {variable: signer.environment.get(variable) for variable in SIGNING_KEY_VARIABLES}
    return {variable: value["Ref"] if isinstance(value, dict) else None for variable, value in named.items()}


def _warm_up() -> None:
    """Build the functions' AWS clients and let DynamoDB Local's JVM compile its write path, as a warm
    container and DynamoDB have them: a scaled-down Timeout must not be spent on one-off costs that do
    not shrink with the scale."""
    from silentcheck import aws as function_aws
    from silentcheck.store import keys

    function_aws.client("secretsmanager")
    dynamodb = function_aws.client("dynamodb")
    key = keys.item_key(keys.SANDBOX_WARM_UP)
    for n in range(30):
        dynamodb.update_item(TableName=TABLE_NAME, Key=key, UpdateExpression="SET n = :n",
                             ConditionExpression="attribute_not_exists(n) OR n < :n",
                             ExpressionAttributeValues={":n": {"N": str(n)}})
        dynamodb.get_item(TableName=TABLE_NAME, Key=key, ConsistentRead=True)
    dynamodb.delete_item(TableName=TABLE_NAME, Key=key)


def forget_function_caches() -> None:
    """The functions run in this process: drop their per-container caches as a new container would, but
    keep their boto3 clients and HTTP session (same endpoints, same credentials), on which the tests' fault
    hooks and the benchmarks' call counter are installed."""
    from silentcheck import caches

    caches.reset_caches(connections=False)


def start_stack(time_scale: float = 1.0, truid_slow_seconds: float = 10.0, log_level: str = "INFO",
                environment: dict[str, str] | None = None) -> Stack:
    """Everything on loopback; `time_scale` runs the template's time budgets (function Timeouts, provider
    timeouts, the record margin) in proportion, e.g. 1/4 for tests; `environment` overrides the functions'
    variables (e.g. CHECK_TTL_SECONDS)."""
    dynamodb = aws.start_dynamodb_local()
    moto = aws.start_moto_server()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.endpoint,
        "AWS_ENDPOINT_URL_KMS": moto.endpoint,
        "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "false"),
    })
    aws.create_table(aws.client("dynamodb", dynamodb.endpoint), TABLE_NAME, "TABLE_NAME")
    aws.create_table(aws.client("dynamodb", dynamodb.endpoint), IDEMPOTENCY_TABLE_NAME, "IDEMPOTENCY_TABLE_NAME")

    network = serve(network_sim.make_app(network_sim.MobileNetwork()))
    projects = {cid: truid_sim.Project(client_secret=secret, mode=mode)  # type: ignore[arg-type]
                for cid, (secret, mode) in TRUID_PROJECTS.items()}
    simulator = truid_sim.TruIdSimulator(truid_sim.TruIdConfig(
        network_url=network.base_url, projects=projects, slow_seconds=truid_slow_seconds,
        callback_retry_delays=CALLBACK_RETRY_DELAYS))
    truid = serve(truid_sim.make_app(simulator))
    clock = SandboxClock()
    aggregator = camara_sim.CamaraSimulator(camara_sim.CamaraConfig(network_url=network.base_url, ciba_interval=1,
                                                                    clock=clock))
    camara = serve(camara_sim.make_app(aggregator))
    camara_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    smv = infobip_sim.InfobipSimulator(infobip_sim.InfobipConfig(
        network_url=network.base_url, api_keys=frozenset({INFOBIP_API_KEY}), slow_seconds=truid_slow_seconds,
        callback_retry_seconds=CALLBACK_RETRY_DELAYS[0]))
    infobip = serve(infobip_sim.make_app(smv))
    # Onboarding: each provider registers with the operator the one URL its hop may send devices back to.
    for provider, resume_path in ((truid, truid_sim.RESUME_PATH), (camara, camara_sim.RESUME_PATH),
                                  (infobip, infobip_sim.RESUME_PATH)):
        register_partner(network.base_url, f"{provider.base_url}{resume_path}")

    secret_value: dict[str, Any] = {"pepper": random.token_urlsafe(32)}
    callback_secret_value: dict[str, Any] = {}
    secretsmanager = aws.client("secretsmanager", moto.endpoint)
    secret_arn = aws.seed_secret(secretsmanager, SECRET_NAME, secret_value)
    callback_secret_arn = aws.seed_secret(secretsmanager, CALLBACK_SECRET_NAME, callback_secret_value)
    signing_key_id = aws.create_signing_key(aws.client("kms", moto.endpoint))
    signing_keys = {str(signing_slots({})["SIGNING_KEY_ID"]): signing_key_id}  # the template's defaults: one key
    api_key = random.token_urlsafe(30)
    phone_proxy = start_phone_proxy(network.base_url)
    services = {network.base_url: "mobile network", truid.base_url: "tru.ID", camara.base_url: "CAMARA aggregator",
                infobip.base_url: "Infobip"}
    # Not a template variable: the sandbox says it is one, so its plain-http simulators on loopback are
    # accepted as provider URLs (a deployment refuses them; config.Settings.sandbox_loopback_providers).
    os.environ["SANDBOX_LOOPBACK_PROVIDERS"] = "true"
    gateway = start_gateway({"TABLE_NAME": TABLE_NAME, "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
                             "SECRET_ID": secret_arn,
                             "CALLBACK_SECRET_ID": callback_secret_arn, "POWERTOOLS_LOG_LEVEL": log_level,
                             "ROUTING": json.dumps(SANDBOX_ROUTING), "LIMITS": json.dumps(SANDBOX_LIMITS),
                             "SIGNING_KEY_ID": signing_key_id, **(environment or {})}, api_keys=[api_key],
                            pages=web.pages(services, phone_proxy.url, api_key), time_scale=time_scale)
    _warm_up()
    redirect_uris = (f"{gateway.api_url}/checks/return",)
    public_jwk = {**json.loads(RSAAlgorithm.to_jwk(camara_key.public_key())), "kid": CAMARA_KEY_ID, "alg": "RS256"}
    for client_id, (client_secret, mode) in CAMARA_CLIENTS.items():
        aggregator.set_client(client_id, camara_sim.CamaraClient(
            redirect_uris=redirect_uris, client_secret=client_secret, mode=mode,  # type: ignore[arg-type]
            public_jwk=public_jwk if client_secret is None else None,
            assertion_audience=CAMARA_ASSERTION_AUDIENCES.get(client_id, "token_endpoint")))  # type: ignore[arg-type]
    key_pem = camara_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()).decode()
    stack = Stack(dynamodb, moto, network, truid, simulator, camara, aggregator, key_pem, infobip, smv, gateway,
                  secret_value, callback_secret_value, api_key, signing_key_id, signing_keys, phone_proxy, clock)
    stack.configure_truid()
    stack.configure_camara()
    stack.configure_infobip()
    return stack


@contextmanager
def running_stack(**kwargs: Any) -> Iterator[Stack]:
    stack = start_stack(**kwargs)
    try:
        yield stack
    finally:
        stack.stop()


def write_state(stack: Stack) -> Path:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps(stack.state(), indent=2))
    return STATE_FILE


def read_state() -> dict[str, str] | None:
    try:
        value = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
