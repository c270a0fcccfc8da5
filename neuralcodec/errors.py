"""The project's documented exception types (the only ones decoding a hostile file may raise)."""


class NeuralCodecError(Exception):
    """Base class of every error the library raises on purpose."""


class DecodeError(NeuralCodecError):
    """A bitstream is malformed, truncated, corrupted, or was made by another model."""


class InputError(NeuralCodecError):
    """An input file cannot be read as an image, or an argument is invalid."""


class ModelError(NeuralCodecError):
    """A codec, model or rate point is unknown or its weights are missing or damaged."""
