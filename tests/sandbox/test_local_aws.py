"""The sandbox's AWS pieces: DynamoDB Local with the template's table, moto's server, the template loader."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from sandbox.local_aws import services as aws
from sandbox.local_aws.template import load_template, table_properties_from_template
from sandbox.stack import Stack


@pytest.fixture(scope="module")
def dynamodb_local(stack: Stack) -> aws.DynamoDBLocal:
    """The session stack's DynamoDB Local, started by aws.start_dynamodb_local (one JVM per test process)."""
    return stack.dynamodb


@pytest.fixture(scope="module")
def dynamodb(dynamodb_local: aws.DynamoDBLocal) -> Any:
    return aws.client("dynamodb", dynamodb_local.endpoint)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[aws.MotoServer]:
    with aws.start_moto_server() as server:
        yield server


@pytest.fixture
def table_name() -> str:
    return f"checks-{uuid.uuid4().hex[:8]}"


def _key_item(value: str) -> dict[str, dict[str, str]]:
    """An item holding only the template table's primary key, whatever its name and type."""
    properties = table_properties_from_template()
    types = {d["AttributeName"]: d["AttributeType"] for d in properties["AttributeDefinitions"]}
    return {k["AttributeName"]: {types[k["AttributeName"]]: value} for k in properties["KeySchema"]}


def _listening_addresses(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the TCP sockets listening on `port`, read from the kernel's tables."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A is LISTEN
                continue
            raw = bytes.fromhex(address_hex)  # the kernel prints each 32-bit word in host (little) order
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(ipaddress.ip_address(packed))
    return found


@pytest.mark.integration
def test_dynamodb_local_listens_on_loopback_only(dynamodb_local: aws.DynamoDBLocal) -> None:
    addresses = _listening_addresses(dynamodb_local.port)

    assert addresses
    for address in addresses:
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        assert (mapped or address).is_loopback, f"DynamoDB Local listens on {address}"


@pytest.mark.integration
@pytest.mark.parametrize("env_var", ["TABLE_NAME", "IDEMPOTENCY_TABLE_NAME"])
def test_table_created_from_template_has_the_templates_key_schema_and_ttl_attribute(
    dynamodb: Any, table_name: str, env_var: str
) -> None:
    template_table = table_properties_from_template(env_var=env_var)

    aws.create_table(dynamodb, table_name, env_var)

    table = dynamodb.describe_table(TableName=table_name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert table["KeySchema"] == template_table["KeySchema"]
    assert ttl == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": template_table["TimeToLiveSpecification"]["AttributeName"],
    }


@pytest.mark.integration
def test_conditional_put_fails_on_the_second_write(dynamodb: Any, table_name: str) -> None:
    aws.create_table(dynamodb, table_name)
    item = _key_item("check-1")
    (key_name,) = item
    put = {
        "TableName": table_name,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": key_name},
    }
    dynamodb.put_item(**put)

    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(**put)


def test_moto_server_answers_on_loopback(moto_server: aws.MotoServer) -> None:
    assert urlsplit(moto_server.endpoint).hostname == "127.0.0.1"
    with urlopen(f"{moto_server.endpoint}/moto-api/data.json", timeout=5) as response:
        assert response.status == 200


def test_seeded_secret_reads_back_as_the_same_json(moto_server: aws.MotoServer) -> None:
    secrets = aws.client("secretsmanager", moto_server.endpoint)
    value = {"truid": {"client_id": "id-1", "client_secret": "s3cr3t"}, "pepper": "p" * 48}

    arn = aws.seed_secret(secrets, "silentcheck/test-read-back", value)

    stored = secrets.get_secret_value(SecretId=arn)["SecretString"]
    assert json.loads(stored) == value


def test_seeding_an_existing_secret_replaces_its_value_under_the_same_arn(
    moto_server: aws.MotoServer,
) -> None:
    secrets = aws.client("secretsmanager", moto_server.endpoint)
    first_arn = aws.seed_secret(secrets, "silentcheck/test-reseed", {"pepper": "old"})

    second_arn = aws.seed_secret(secrets, "silentcheck/test-reseed", {"pepper": "new"})

    assert second_arn == first_arn
    stored = secrets.get_secret_value(SecretId="silentcheck/test-reseed")["SecretString"]
    assert json.loads(stored) == {"pepper": "new"}


def test_load_template_resolves_short_form_tags(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Outputs:\n"
        "  Name: {Value: !Ref ChecksTable}\n"
        "  Arn: {Value: !GetAtt ChecksTable.Arn}\n"
        "  Url: {Value: !Sub 'https://${Api}.example.com'}\n"
        "  Pick: {Value: !If [IsProd, !Ref Prod, !Ref AWS::NoValue]}\n"
        "  Joined: {Value: !Join ['-', [a, !GetAtt [Fn, Arn]]]}\n"
    )

    outputs = load_template(template)["Outputs"]

    assert outputs["Name"]["Value"] == {"Ref": "ChecksTable"}
    assert outputs["Arn"]["Value"] == {"Fn::GetAtt": ["ChecksTable", "Arn"]}
    assert outputs["Url"]["Value"] == {"Fn::Sub": "https://${Api}.example.com"}
    assert outputs["Pick"]["Value"] == {"Fn::If": ["IsProd", {"Ref": "Prod"}, {"Ref": "AWS::NoValue"}]}
    assert outputs["Joined"]["Value"] == {"Fn::Join": ["-", ["a", {"Fn::GetAtt": ["Fn", "Arn"]}]]}


def test_template_whose_table_name_names_no_dynamodb_table_is_rejected(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Bucket: {Type: AWS::S3::Bucket}\n")

    with pytest.raises(ValueError, match="TABLE_NAME must name exactly one AWS::DynamoDB::Table"):
        table_properties_from_template(template)


def test_client_refuses_an_endpoint_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        aws.client("dynamodb", "http://10.0.0.5:8000")
