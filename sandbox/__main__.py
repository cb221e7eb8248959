"""python -m sandbox run | serve | verify NUMBER [--provider truid|camara|infobip] [--operator-token] [--sim NUMBER]
[--wifi] [--sim-swap HOURS [--sim-changed-hours-ago HOURS]]"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from typing import Any

import requests

from sandbox import stack as stacks
from sandbox.verify import verify


def _print_urls(urls: dict[str, str]) -> None:
    print("\nsilentcheck sandbox is serving on loopback:")
    width = max(map(len, urls))
    for name, url in urls.items():
        print(f"  {name:<{width}}  {url}")


def _wait_forever() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def _running_stack_urls() -> dict[str, str] | None:
    urls = stacks.read_state()
    if not urls:
        return None
    try:
        requests.get(urls["network"] + "/lines/127.0.0.1", timeout=1)
    except requests.RequestException:
        return None
    return urls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the stack, verify one number end to end, keep serving")
    run.add_argument("phone_number", nargs="?", default="+447400900002")
    commands.add_parser("serve", help="start the stack and keep serving")
    check = commands.add_parser("verify", help="run one check as a phone would")
    check.add_argument("phone_number")
    check.add_argument("--sim", help="the SIM the phone holds (default: the number being checked)")
    check.add_argument("--wifi", action="store_true", help="the phone is on Wi-Fi, not mobile data")
    check.add_argument("--provider", choices=["truid", "camara", "infobip"],
                       help="ask for this provider (default: the routing table decides, with fallback)")
    check.add_argument("--operator-token", action="store_true",
                       help="CAMARA with a TS.43 operator token minted for the phone's SIM: no device hop, "
                            "works over Wi-Fi")
    check.add_argument("--api-version", choices=["v0.1", "v0.2"], help="tru.ID API version (own stack only)")
    check.add_argument("--sim-swap", type=int, metavar="HOURS",
                       help="also ask whether the number's SIM changed within HOURS (sim_swap.max_age_hours)")
    check.add_argument("--sim-changed-hours-ago", type=float, metavar="HOURS",
                       help="the phone's SIM took the number HOURS ago (a SIM swap; default: never changed)")
    for command in (run, commands.choices["serve"], check):
        command.add_argument("--logs", action="store_true", help="print the functions' INFO logs")
    args = parser.parse_args(argv)
    log_level = "INFO" if args.logs else "WARNING"
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "false" if args.logs else "true")  # EMF lines, with the logs

    if args.command == "verify":
        urls = _running_stack_urls()
        options: dict[str, Any] = {"sim": args.sim, "bearer": "wifi" if args.wifi else "cellular",
                                   "provider": "camara" if args.operator_token else args.provider,
                                   "sim_swap_hours": args.sim_swap, "sim_changed_hours_ago": args.sim_changed_hours_ago}
        if urls and "camara" in urls and not args.api_version:
            print(f"using the running sandbox at {urls['api']}")
            view = verify(urls["api"], urls["network"], args.phone_number, api_key=urls.get("api_key"),
                          operator_token_url=urls["camara"] if args.operator_token else None, **options)
            return 0 if view.get("status") else 1
        with stacks.running_stack(log_level=log_level) as stack:
            stack.configure_api(allow_unbound_checks=True)  # the sandbox shows binding none too (docs/sandbox.md)
            if args.api_version:
                stack.configure_truid(api_version=args.api_version)
            view = verify(stack.api_url, stack.network.base_url, args.phone_number, api_key=stack.api_key,
                          operator_token_url=stack.camara.base_url if args.operator_token else None, **options)
        return 0 if view.get("status") else 1

    print("starting the sandbox (DynamoDB Local, moto, simulated tru.ID, CAMARA, Infobip and network, gateway)…")
    with stacks.running_stack(log_level=log_level) as stack:
        stack.configure_api(allow_unbound_checks=True)  # Brazil's Infobip flow and tru.ID v0.1: binding none
        stacks.write_state(stack)
        if args.command == "run":
            print()
            view = verify(stack.api_url, stack.network.base_url, args.phone_number, api_key=stack.api_key)
            if view.get("status") != "VERIFIED":
                print("the end-to-end verification did not verify: see the steps above", file=sys.stderr)
                return 1
        _print_urls(stack.urls())
        print(f"\nAPI key (x-api-key on POST /checks; ClientAuth=api_key):  {stack.api_key}")
        print("\ndemo: open the page in a browser that is a phone on the simulated network (proxy: the phone proxy):")
        print(f"      chromium --proxy-server={stack.phone_proxy.url} --proxy-bypass-list='<-loopback>' "
              f"--user-data-dir=$(mktemp -d) {stack.demo_url}")
        print(f"      Swagger UI works in any browser: {stack.urls()['swagger ui']}")
        print("\ntry:  .venv/bin/python -m sandbox verify +447400900004 --sim +447400900006")
        print("      .venv/bin/python -m sandbox verify --provider camara +34600000012")
        print("      .venv/bin/python -m sandbox verify --provider infobip +447400900112")
        print("      .venv/bin/python -m sandbox verify +447400900002 --sim-swap 24 --sim-changed-hours-ago 12")
        print("      .venv/bin/python -m sandbox verify --operator-token --wifi +34600000012   (Ctrl-C stops)")
        _wait_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
