"""The simulated Infobip Silent Mobile Verification API: what it does is in app.py's docstring."""

from sandbox.simulators.infobip.app import InfobipConfig, InfobipSimulator, make_app

__all__ = ["InfobipConfig", "InfobipSimulator", "make_app"]
