"""What 1,000,000 checks cost on AWS, from the counted calls and measured durations.

List prices, us-east-1, read 2026-11 (https://aws.amazon.com/{lambda,api-gateway,dynamodb,kms,
secrets-manager}/pricing/); free tiers left out. docs/benchmarks.md shows the model."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.counting import Calls

LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1_000_000
REST_API_REQUEST = 3.50 / 1_000_000  # first 333 million a month
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000  # on-demand, per write request unit (1 KB)
DYNAMODB_READ_UNIT = 0.125 / 1_000_000  # on-demand, per read request unit (4 KB strongly consistent)
KMS_ASYMMETRIC_REQUEST = 0.15 / 10_000  # Sign with an ECC key; asymmetric requests have no free tier
KMS_REQUEST = 0.03 / 10_000
SECRETS_MANAGER_CALL = 0.05 / 10_000
SNAPSTART_RESTORE_GB = 0.0001397998  # per GB restored (Python SnapStart)
SNAPSTART_CACHE_GB_SECOND = 0.0000015046  # per GB-second a published version's snapshot is cached
# No provider publishes a list price for silent verification (tru.ID, Infobip, the CAMARA aggregators
# quote per country and network, by contract). This stand-in shows the share; pass your own.
ASSUMED_PROVIDER_PRICE = 0.03

_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_READS = frozenset({"GetItem"})
_API_FUNCTIONS = frozenset({"StartCheckFunction", "PollResultFunction", "OidcCallbackFunction"})


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float  # per check
    unit: str
    usd_per_million_checks: float


def per_million(calls: Calls, invocations: Mapping[str, int], duration_ms: Mapping[str, float],
                memory_mb: Mapping[str, int], provider_price: float = ASSUMED_PROVIDER_PRICE,
                batch_get_keys: int = 1, transaction_items: int = 4) -> tuple[list[Line], float]:
    """Lines of the bill for one million checks of one flow, and the provider's bill for comparison.

    `calls`: what one check asked of AWS; `invocations`: how often each function ran for it;
    `duration_ms`: each function's billed duration (rounded up to 1 ms); `memory_mb`: its MemorySize.
    Items are under 1 KB (one unit per write, one per strongly consistent read); `batch_get_keys`
    reads per BatchGetItem (one per provider in the routing plan); `transaction_items` writes per
    TransactWriteItems (a start's check and its three caller budgets), each two units (DynamoDB's
    transactional writes: prepare and commit)."""
    million = 1_000_000
    gb_seconds = sum(n * math.ceil(duration_ms.get(f, 0.0)) / 1000 * memory_mb.get(f, 512) / 1024
                     for f, n in invocations.items())
    lambda_requests = sum(invocations.values())
    api_requests = sum(n for f, n in invocations.items() if f in _API_FUNCTIONS)
    writes = sum(n for (svc, op), n in calls.aws.items() if svc == "dynamodb" and op in _WRITES)
    reads = sum(n for (svc, op), n in calls.aws.items() if svc == "dynamodb" and op in _READS)
    reads += batch_get_keys * calls.aws_count("dynamodb", "BatchGetItem")
    writes += 2 * transaction_items * calls.aws_count("dynamodb", "TransactWriteItems")
    signs = calls.aws_count("kms", "Sign")
    other_kms = calls.aws_count("kms") - signs
    secrets = calls.aws_count("secrets-manager")
    lines = [
        Line("Lambda compute (arm64)", gb_seconds, "GB-s", gb_seconds * LAMBDA_ARM_GB_SECOND * million),
        Line("Lambda requests", lambda_requests, "invocations", lambda_requests * LAMBDA_REQUEST * million),
        Line("API Gateway REST requests", api_requests, "requests", api_requests * REST_API_REQUEST * million),
        Line("DynamoDB writes", writes, "WRU", writes * DYNAMODB_WRITE_UNIT * million),
        Line("DynamoDB reads", reads, "RRU", reads * DYNAMODB_READ_UNIT * million),
        Line("KMS Sign (ECC)", signs, "requests", signs * KMS_ASYMMETRIC_REQUEST * million),
        Line("KMS, other", other_kms, "requests", other_kms * KMS_REQUEST * million),
        Line("Secrets Manager", secrets, "calls", secrets * SECRETS_MANAGER_CALL * million),
    ]
    return lines, provider_price * million


def render(model: tuple[list[Line], float]) -> list[str]:
    lines, provider = model
    total = sum(line.usd_per_million_checks for line in lines)
    rows = [f"{'item':<28} {'per check':>10} {'unit':<12} {'USD / 1M checks':>16}"]
    rows += [f"{line.item:<28} {line.quantity:>10.4g} {line.unit:<12} {line.usd_per_million_checks:>16.2f}"
             for line in lines]
    rows.append(f"{'silentcheck on AWS, total':<28} {'':>10} {'':<12} {total:>16.2f}")
    rows.append(f"{'provider at the assumed price':<28} {'':>10} {'':<12} {provider:>16.2f}")
    rows.append(f"silentcheck's share of what a check costs: {total / (total + provider):.1%}")
    return rows
