"""The simulated CAMARA Number Verification aggregator and operator: what it does is in app.py's docstring."""

from sandbox.simulators.camara.app import CamaraClient, CamaraConfig, CamaraSimulator, Mode, make_app

__all__ = ["CamaraClient", "CamaraConfig", "CamaraSimulator", "Mode", "make_app"]
