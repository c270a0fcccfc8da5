"""Entropy coding: integer probability tables and rANS (through ``constriction``). Knows no networks."""

from neuralcodec.entropy.categorical import table_from_counts
from neuralcodec.entropy.gaussian import build_gaussian_tables, index_thresholds, scale_indexes, scale_table
from neuralcodec.entropy.indexed import decode_indexed, encode_indexed
from neuralcodec.entropy.rans import RansDecoder, RansEncoder
from neuralcodec.entropy.tables import PRECISION, IntegerTable, pack_tables, quantize_pmf, unpack_tables

__all__ = [
    "PRECISION", "IntegerTable", "RansDecoder", "RansEncoder", "build_gaussian_tables", "decode_indexed",
    "encode_indexed", "index_thresholds", "pack_tables", "quantize_pmf", "scale_indexes", "scale_table",
    "table_from_counts", "unpack_tables",
]
