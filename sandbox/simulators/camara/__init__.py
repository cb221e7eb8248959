"""The simulated CAMARA Number Verification aggregator and operator: what it does is in docs/sandbox.md."""

from sandbox.simulators.camara.app import RESUME_PATH, CamaraSimulator, make_app
from sandbox.simulators.camara.config import CamaraClient, CamaraConfig, Mode

__all__ = ["RESUME_PATH", "CamaraClient", "CamaraConfig", "CamaraSimulator", "Mode", "make_app"]
