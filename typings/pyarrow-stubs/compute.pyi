"""Type stub for the part of pyarrow.compute that FMW calls (read by pyright only, never run).

pyarrow.compute creates most of its functions at import time from the C++ function
registry, so a type checker sees only the few written in Python (cast, fill_null, index)
and reports every other `pc.<name>` as unknown. This stub names the functions that ops/,
ui/ and bench/ call, with the parameters pyarrow 26 reports (`inspect.signature`).
Pyright reads it instead of the module (`stubPath` in pyproject.toml); py.typed marks
this stub package "partial", so every other pyarrow module still comes from pyarrow.
A function FMW calls for the first time must be added here, as `inspect.signature` shows it.

Why not the pyarrow-stubs package: its newest release describes pyarrow 20 (FMW runs 26),
lacks functions FMW calls (utf8_normalize) and rejects pyarrow's documented idioms, such
as a Python scalar where an array is expected (`pc.equal(column, "total")`,
`pc.coalesce(mask, False)`): 45 false errors. Delete this file when pyarrow ships its
own annotations.

pyarrow's classes live in a compiled module that the checker cannot read, so `pa.Array`
and friends are opaque here: the stub checks names, arity and keywords, not array types.
"""

from typing import Any, Literal, TypeAlias

import pyarrow as pa

_Values: TypeAlias = pa.Array | pa.ChunkedArray
# A datum: an array, or anything pyarrow turns into a scalar (`pa.scalar(value)`).
_Datum: TypeAlias = pa.Array | pa.ChunkedArray | pa.Scalar | str | bytes | int | float | bool | None
_Pool: TypeAlias = pa.MemoryPool | None
_Options: TypeAlias = Any  # a pyarrow.compute.*Options instance, or None

# ----------------------------------------------------------------- written in Python

def cast(
    arr: _Datum,
    target_type: pa.DataType | str | None = None,
    safe: bool | None = None,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def fill_null(values: _Datum, fill_value: _Datum) -> Any: ...
def index(
    data: _Values,
    value: _Datum,
    start: int | None = None,
    end: int | None = None,
    *,
    memory_pool: _Pool = None,
) -> pa.Scalar: ...

# ----------------------------------------------------------------- element-wise

def and_(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def or_(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def equal(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def not_equal(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def greater_equal(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def less(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def subtract(x: _Datum, y: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def if_else(cond: _Datum, left: _Datum, right: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def replace_with_mask(
    values: _Values, mask: _Datum, replacements: _Datum, /, *, memory_pool: _Pool = None
) -> Any: ...
def is_null(
    values: _Datum,
    /,
    *,
    nan_is_null: bool = False,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def is_valid(values: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def is_in(
    values: _Datum,
    /,
    value_set: _Values,
    *,
    skip_nulls: bool = False,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def index_in(
    values: _Datum,
    /,
    value_set: _Values,
    *,
    skip_nulls: bool = False,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def local_timestamp(values: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...

# ----------------------------------------------------------------- text

def ascii_lower(strings: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def binary_join(strings: _Datum, separator: _Datum, /, *, memory_pool: _Pool = None) -> Any: ...
def binary_join_element_wise(
    *strings: _Datum,
    null_handling: Literal["emit_null", "skip", "replace"] = "emit_null",
    null_replacement: str = "",
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def match_substring(
    strings: _Datum,
    /,
    pattern: str,
    *,
    ignore_case: bool = False,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def match_substring_regex(
    strings: _Datum,
    /,
    pattern: str,
    *,
    ignore_case: bool = False,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def replace_substring_regex(
    strings: _Datum,
    /,
    pattern: str,
    replacement: str,
    *,
    max_replacements: int | None = None,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def starts_with(
    strings: _Datum,
    /,
    pattern: str,
    *,
    ignore_case: bool = False,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def strftime(
    timestamps: _Datum,
    /,
    format: str = "%Y-%m-%dT%H:%M:%S",
    locale: str = "C",
    *,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def utf8_normalize(
    strings: _Datum,
    /,
    form: Literal["NFC", "NFKC", "NFD", "NFKD"],
    *,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def utf8_slice_codeunits(
    strings: _Datum,
    /,
    start: int,
    stop: int | None = None,
    step: int = 1,
    *,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...

# ----------------------------------------------------------------- selections and aggregates

def any(
    array: _Datum,
    /,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> pa.Scalar: ...
def sum(
    array: _Datum,
    /,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> pa.Scalar: ...
def min(
    array: _Datum,
    /,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> pa.Scalar: ...
def max(
    array: _Datum,
    /,
    *,
    skip_nulls: bool = True,
    min_count: int = 1,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> pa.Scalar: ...
def dictionary_encode(
    array: _Values,
    /,
    null_encoding: Literal["mask", "encode"] = "mask",
    *,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def filter(
    input: _Values | pa.Table | pa.RecordBatch,
    selection_filter: _Values,
    /,
    null_selection_behavior: Literal["drop", "emit_null"] = "drop",
    *,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def indices_nonzero(values: _Values, /, *, memory_pool: _Pool = None) -> Any: ...
def sort_indices(
    input: _Values | pa.Table | pa.RecordBatch,
    /,
    sort_keys: Any = (),
    *,
    null_placement: Literal["at_start", "at_end"] | None = None,
    options: _Options = None,
    memory_pool: _Pool = None,
) -> Any: ...
def unique(array: _Values, /, *, memory_pool: _Pool = None) -> Any: ...
