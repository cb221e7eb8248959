"""Every per-container cache in the layer, and the one way to drop them: after reset_caches() the process
holds what a new container holds. Three kinds, so a caller can keep one (see reset_caches):

- configuration: what config.py parses once (the settings, LIMITS), the routing table (routing.py), the
  attestation signer and the signing keys' public halves;
- connections: boto3's session and clients, with the AWS credentials they resolved, and the HTTP session
  with its open connections;
- provider state: the secrets (with the seal's cipher keyed by the pepper and the provider sections
  validated from them), OAuth access tokens (tru.ID's), discovery documents and key sets, and the circuit
  breakers' states read in the last few seconds.

boto3's service models (aws._loader) are kept: they are the installed botocore's read-only data, the same
in every container, and loaded before a SnapStart snapshot on purpose."""

from __future__ import annotations


def reset_caches(*, configuration: bool = True, connections: bool = True) -> None:
    """Drop every cache (tests between cases), or all but one kind:
    `configuration=False` after a SnapStart restore, whose environment variables are the snapshot's, so what
    was parsed from them still holds (snapstart.after_restore);
    `connections=False` where something is installed on the clients that must stay: the sandbox's functions
    run in its process with the tests' fault hooks and the benchmarks' call counter on them."""
    from silentcheck import breakers, credentials, sealing
    from silentcheck.providers import oauth, secret_sections

    breakers.forget()
    credentials.forget()
    sealing.forget()
    secret_sections.forget()
    oauth.forget()
    if configuration:
        from silentcheck import config, limits, routing, signing_keys

        config.reset()
        routing.parse_table.cache_clear()
        limits.parse_limits.cache_clear()
        signing_keys.forget()
    if connections:
        from silentcheck import aws, provider_http

        aws.reset()
        provider_http.reset()
