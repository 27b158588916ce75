r"""Building blocks for fused numba loops over large arrays: a vectorisable log and a prefetch.

numba compiles ``math.log`` / ``np.log`` to a call of the C library's scalar ``log``, and a loop
with a call in it stays scalar (llvmlite ships no vector math library). :func:`log_positive` is the
natural logarithm written out in branch-free arithmetic, so that a loop such as
:math:`\sum_k p_k \log p_k` compiles to SIMD code and reads its input once. Such a loop is then
limited by memory, not by arithmetic; :func:`prefetch` asks for the data a few kilobytes ahead
(measured on the bKLD target term, 65M values: 0.16 s without, 0.09 s with, against 0.20 s for the
same sums as vectorised torch operations).

:func:`log_positive` follows fdlibm's ``e_log.c`` (Sun Microsystems, 1993) with its branches
replaced by selects. Write :math:`y = 2^e m` with :math:`m \in [\sqrt2/2, \sqrt2)`,
:math:`f = m - 1`, :math:`s = f / (2 + f)`, :math:`h = f^2/2`; then

.. math:: \log y = e \ln 2 + f - \big(h - s\,(h + R(s^2))\big)

with fdlibm's minimax polynomial :math:`R` (error below :math:`2^{-58.45}`) and :math:`\ln 2` split
into a high part (exact times e) and a low part. The result is within 1 ulp of the C library's ``log`` (tests).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["log_positive", "prefetch"]


@intrinsic
def _bits(typingctx, x):  # pragma: no cover - compiled
    """The IEEE-754 bits of a float64 as uint64 (a register bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.uint64(types.float64), codegen


@intrinsic
def _float(typingctx, x):  # pragma: no cover - compiled
    """The float64 whose IEEE-754 bits are the uint64 ``x`` (a register bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.uint64), codegen


@intrinsic
def prefetch(typingctx, arr, index):  # pragma: no cover - compiled
    """Hint the CPU to load the cache line holding ``arr[index]`` (1-D C-contiguous array, in bounds).

    A read prefetch into all cache levels (LLVM ``llvm.prefetch``, read, locality 3); no effect on
    the program's values.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        address = builder.bitcast(builder.gep(data, [args[1]]), i8p)
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.none(arr, index), codegen


_LN2_HI = 6.93147180369123816490e-01   # fdlibm: ln 2 split so that e * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951
# an 11-bit exponent field OR-ed into the bits of 2^52 is an exact integer after subtracting 2^52
_TWO52 = 4503599627370496.0


@njit(inline="always", error_model="numpy")
def log_positive(y):  # pragma: no cover - compiled (tested directly and through the bKLD kernel)
    """Natural logarithm of a positive normal float64 (``tiny <= y < inf``), branch-free.

    NaN for ``y <= 0`` and for NaN. Outside the domain otherwise (subnormal ``y``, ``+inf``) the
    value is finite and meaningless: callers keep ``y`` normal (the bKLD kernel takes
    ``log(p + tiny)``) and detect infinities from their sums.
    """
    bits = _bits(y)
    field = (bits >> uint64(52)) & uint64(0x7FF)                                    # biased exponent
    m = _float((bits & uint64(0x000FFFFFFFFFFFFF)) | uint64(0x3FF0000000000000))   # in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = (_float(field | uint64(0x4330000000000000)) - (_TWO52 + 1023.0)) + (1.0 if big else 0.0)
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    out = e * _LN2_HI - ((hfsq - (s * (hfsq + r) + e * _LN2_LO)) - f)
    return out if y > 0.0 else np.nan
