"""The simulated Infobip Silent Mobile Verification API: what it does is in app.py's docstring."""

from sandbox.simulators.infobip.app import InfobipSimulator, make_app
from sandbox.simulators.infobip.config import InfobipConfig

__all__ = ["InfobipConfig", "InfobipSimulator", "make_app"]
