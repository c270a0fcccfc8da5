"""neuralcodec: learned image and video codecs with real bitstreams."""

__version__ = "0.1.0"
