"""HTTP API and live stream (FastAPI), served in the node's event loop."""
