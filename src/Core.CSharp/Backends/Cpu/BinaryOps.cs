using System.Numerics;
using System.Numerics.Tensors;

namespace Cotangent.Backends.Cpu;

/// <summary>A binary elementwise operator: its scalar form and its SIMD span forms.</summary>
internal interface IBinaryOp<T>
{
    static abstract T Apply(T a, T b);
    static abstract void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o);
    static abstract void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o);
    static abstract void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o);
}

internal readonly struct AddOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a + b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Add(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Add(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Add(b, a, o);
}

internal readonly struct SubOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a - b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Subtract(a, b, o);
}

internal readonly struct MulOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a * b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Multiply(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Multiply(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Multiply(b, a, o);
}

internal readonly struct DivOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => a / b;
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Divide(a, b, o);
}

internal readonly struct MaxOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => T.Max(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Max(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Max(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Max(b, a, o);
}

internal readonly struct MinOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Apply(T a, T b) => T.Min(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Min(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Min(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Min(b, a, o);
}

internal readonly struct PowOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => T.Pow(a, b);
    public static void Span(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
    public static void SpanScalar(ReadOnlySpan<T> a, T b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
    public static void ScalarSpan(T a, ReadOnlySpan<T> b, Span<T> o) => TensorPrimitives.Pow(a, b, o);
}
