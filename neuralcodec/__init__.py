"""neuralcodec: learned image and video codecs with real bitstreams.

    import neuralcodec
    data = neuralcodec.encode("photo.png", quality=5)   # bytes of a .bin file
    neuralcodec.decode(data).save("decoded.png")         # a PIL image

Importing the package is cheap: networks load on first use.
"""

__version__ = "0.1.0"

from neuralcodec.api import decode, encode, load_codec  # noqa: E402
from neuralcodec.errors import DecodeError, InputError, ModelError, NeuralCodecError  # noqa: E402

__all__ = ["DecodeError", "InputError", "ModelError", "NeuralCodecError", "__version__", "decode", "encode",
           "load_codec"]
