"""The providers and the mobile network, simulated on loopback. Each simulator has one layout:

    app.py      the simulator's state and routes, and `make_app` (its WSGI face); the docstring says what it does
    config.py   how it is set up (its Config dataclass, and the clients or projects registered with it)
    admin.py    its test controls under /_sandbox/ (not the provider's API)
    ...         one module per concern (tokens, checks, callbacks, faults, wire shapes)

wsgi.py is the plumbing all three share (request, response, routing, request log), faults.py their fault engine,
courier.py their callback courier, controls.py their /_sandbox/ plumbing and keypool.py their RSA keys;
network.py is the mobile network (loopback addresses as lines, header enrichment) that the simulators and the
phone both talk to.
"""
