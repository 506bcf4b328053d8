"""mbv3bench: MobileNetV3-family latency, layer by layer, on a pinned core or a phone."""
__version__ = "0.1.0"
