"""The simulated Infobip Silent Mobile Verification API: what it does is in docs/sandbox.md."""

from sandbox.simulators.infobip.app import RESUME_PATH, InfobipSimulator, make_app
from sandbox.simulators.infobip.config import InfobipConfig

__all__ = ["RESUME_PATH", "InfobipConfig", "InfobipSimulator", "make_app"]
