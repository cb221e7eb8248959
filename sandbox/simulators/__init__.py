"""The providers and the mobile network, simulated on loopback (what each checks: docs/sandbox.md). Each simulator
has one layout: app.py (its state, its route table and `make_app`, its WSGI face), config.py (how it is set up),
admin.py (its test controls under /_sandbox/), and one module per concern. wsgi.py is the plumbing all three share
(request, response, the router, auth headers), device_marks.py the operator hop they make, faults.py their fault
engine, courier.py their callback courier, controls.py their /_sandbox/ plumbing and request log, keypool.py their
signing keys, network.py the mobile network (loopback addresses as lines, header enrichment) that they and the phone
talk to, network_client.py how they ask it.
"""
