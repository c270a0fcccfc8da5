"""The versioned binary container. Knows no networks."""

from neuralcodec.bitstream.container import FORMAT_VERSION, MAGIC, MAX_PIXELS, MAX_SIDE, Header, pack, unpack

__all__ = ["FORMAT_VERSION", "MAGIC", "MAX_PIXELS", "MAX_SIDE", "Header", "pack", "unpack"]
