"""Raw-pointer access to the engine's arena, and two LLVM intrinsics.

The replay code indexes typed pointers rather than numpy arrays: numba
reference-counts arrays at every call and every inlined helper, and on the
replay path those atomic updates cost more than the cache model itself
(measured 40 ns vs 7 ns per lookup). Pointers carry no reference count. The
arena is a numpy array owned by EngineState, alive while a kernel runs.
"""
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


def _ptr_cast(dtype, name):
    def typer(typingctx, addr):
        sig = types.CPointer(dtype)(types.intp)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(types.CPointer(dtype)))

        return sig, codegen
    typer.__name__ = typer.__qualname__ = name
    return typer


as_ptr = intrinsic(_ptr_cast(types.int64, "as_ptr"))
as_ptr.__doc__ = "An int64 pointer from an integer address."
as_ptr8 = intrinsic(_ptr_cast(types.uint8, "as_ptr8"))
as_ptr8.__doc__ = "A uint8 pointer from an integer address (byte-sized per-entry flags)."


@intrinsic
def prefetch(typingctx, ptr, idx):
    """Hint the host CPU to fetch ptr[idx] (llvm.prefetch, read, keep)."""
    if not isinstance(ptr, types.CPointer) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(ptr, idx)

    def codegen(context, builder, signature, args):
        p = builder.gep(args[0], [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(p, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def cttz(typingctx, x):
    """Count trailing zeros of a non-zero int64 (llvm.cttz)."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.int64(types.int64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.IntType(1)(1)])

    return sig, codegen


@njit(cache=True, inline="always")
def region(base, off):
    return as_ptr(base + 8 * off)


@njit(cache=True, inline="always")
def region8(base, off):
    return as_ptr8(base + 8 * off)


def _lanes_equal(width):
    def typer(typingctx, ptr, idx, value):
        if not isinstance(ptr, types.CPointer) or not isinstance(idx, types.Integer):
            return None
        sig = types.int64(ptr, idx, types.int64)

        def codegen(context, builder, signature, args):
            vt = ir.VectorType(ir.IntType(64), width)
            p = builder.bitcast(builder.gep(args[0], [args[1]]), vt.as_pointer())
            v = builder.load(p, align=8)
            splat = builder.insert_element(ir.Constant(vt, ir.Undefined), args[2], ir.IntType(32)(0))
            splat = builder.shuffle_vector(splat, ir.Constant(vt, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width))
            bits = builder.bitcast(builder.icmp_signed("==", v, splat), ir.IntType(width))
            return builder.zext(bits, ir.IntType(64))

        return sig, codegen
    typer.__name__ = typer.__qualname__ = f"lanes_equal{width}"
    return typer


# Bit k set where ptr[idx + k] == value, for k < 8 (16): one vector load and
# compare (two AVX-512 instructions and a mask move), where the summing loop
# LLVM vectorises from scalar code runs a vector loop, a reduction and a
# remainder check. Reads the whole width: callers mask off lanes past their
# set, and keep the memory after the last set readable (the arena's later
# regions).
lanes_equal8 = intrinsic(_lanes_equal(8))
lanes_equal16 = intrinsic(_lanes_equal(16))
