"""The recording path: signal hooks → event sink (XADD) → recorder → the store."""
