"""Entropy coding: integer probability tables and rANS (through ``constriction``). Knows no networks."""

from neuralcodec.entropy.categorical import table_from_counts
from neuralcodec.entropy.gaussian import (
    GaussianScaleTables,
    build_gaussian_tables,
    scale_indexes,
    scale_table,
    scale_thresholds,
)
from neuralcodec.entropy.indexed import decode_indexed, encode_indexed
from neuralcodec.entropy.rans import RansDecoder, RansEncoder
from neuralcodec.entropy.tables import PRECISION, IntegerTable, pack_tables, quantize_pmf, unpack_tables

__all__ = [
    "PRECISION", "GaussianScaleTables", "IntegerTable", "RansDecoder", "RansEncoder", "build_gaussian_tables",
    "decode_indexed", "encode_indexed", "pack_tables", "quantize_pmf", "scale_indexes", "scale_table",
    "scale_thresholds",
    "table_from_counts", "unpack_tables",
]
