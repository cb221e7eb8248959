"""silentcheck: silent phone-number verification behind one small API (the shared Lambda layer)."""
