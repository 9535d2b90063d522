using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Σ exp(xᵢ − m) for a row whose maximum is m: the normaliser of softmax and log-softmax in one
/// pass, with nothing stored. The exponent t = xᵢ − m is never positive, which keeps the
/// vector exp short: t = k·ln2 + r with k = round(t/ln2) and |r| ≤ ln2/2, exp r by a degree-7
/// Taylor polynomial (truncation error below 6e-9, a twentieth of float32's ulp), and 2ᵏ put
/// straight into the exponent bits. Below −87.33 (where 2ᵏ would leave the normal range, and
/// for −∞) the term is 0; a NaN stays NaN. The same exp writes softmax's output (log softmax's
/// last pass, exponentiated) and gives <see cref="Gauss"/> its e^(−z²).
/// </summary>
internal static class ShiftedExp
{
    const float Log2E = 1.44269504f, Ln2Hi = 0.693145752f, Ln2Lo = 1.42860677e-6f, Floor = -87.33f;

    public static unsafe float Sum(ReadOnlySpan<float> x, float m)
    {
        int n = x.Length;
        if (n < 16)
        {
            float small = 0;
            for (int j = 0; j < n; j++) small += MathF.Exp(x[j] - m);
            return small;
        }
        var shift = Vector512.Create(m);
        var none = Vector512.Create(float.NegativeInfinity);   // masked lanes: exp(−∞) = 0
        fixed (float* p = x)
        {
            // the lanes before the first 64-byte boundary come from one unaligned vector, masked
            // to that head; the loop then reads whole cache lines (the row kernel ran up to 2×
            // slower on rows that straddle them); the tail is the last 16, masked to what is left
            int i = (int)((64 - ((nint)p & 63)) & 63) / sizeof(float);
            var s0 = Exp(Vector512.ConditionalSelect(Below(i), Vector512.Load(p) - shift, none));
            var s1 = Vector512<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                s0 += Exp(Vector512.Load(p + i) - shift);
                s1 += Exp(Vector512.Load(p + i + 16) - shift);
            }
            if (i <= n - 16)
            {
                s0 += Exp(Vector512.Load(p + i) - shift);
                i += 16;
            }
            if (i < n)
                s1 += Exp(Vector512.ConditionalSelect(~Below(16 - (n - i)), Vector512.Load(p + n - 16) - shift, none));
            return Vector512.Sum(s0 + s1);
        }
    }

    /// <summary>A mask of the lanes whose index is below <paramref name="count"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Below(int count) =>
        Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(count)).AsSingle();

    /// <summary>
    /// dst = (x − m) − logSum in one pass, rounding as the two subtractions would; with
    /// <paramref name="exp"/>, its exp (softmax), the tail through the same vector code.
    /// </summary>
    public static void LogSoftmax(ReadOnlySpan<float> x, float m, float logSum, Span<float> dst, bool exp = false)
    {
        ref float xr = ref MemoryMarshal.GetReference(x), dr = ref MemoryMarshal.GetReference(dst);
        int n = x.Length, i = 0;
        var shift = Vector512.Create(m);
        var ls = Vector512.Create(logSum);
        if (exp)
        {
            for (; i <= n - 16; i += 16)
                Exp(Vector512.LoadUnsafe(ref xr, (nuint)i) - shift - ls).StoreUnsafe(ref dr, (nuint)i);
            if (i < n) Tail(x[i..], m, logSum, dst[i..]);
            return;
        }
        for (; i <= n - 16; i += 16)
            (Vector512.LoadUnsafe(ref xr, (nuint)i) - shift - ls).StoreUnsafe(ref dr, (nuint)i);
        for (; i < n; i++) dst[i] = x[i] - m - logSum;
    }

    /// <summary>The last few elements of a softmax row through the eight-lane exp, padded with −∞ (exp 0).</summary>
    static void Tail(ReadOnlySpan<float> x, float m, float logSum, Span<float> dst)
    {
        Span<float> pad = stackalloc float[8];
        for (int start = 0; start < x.Length; start += 8)
        {
            int len = Math.Min(8, x.Length - start);
            pad.Fill(float.NegativeInfinity);
            x.Slice(start, len).CopyTo(pad);
            Exp(Vector256.Create((ReadOnlySpan<float>)pad) - Vector256.Create(m) - Vector256.Create(logSum)).CopyTo(pad);
            pad[..len].CopyTo(dst[start..]);
        }
    }

    /// <summary>exp t for t ≤ 0 (see the class).</summary>
    // Always inlined: when the first calls of Sum see only short rows (a 10-class output), the
    // profile-guided tier-1 Sum has never called Exp and kept it as a call, passing each vector
    // through memory: the 1000-wide rows of a later cross-entropy then ran 3-4x slower.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> t)
    {
        // k = round(t·log2 e) by the 1.5·2²³ trick (exact for |k| < 2²²; larger ones are masked below)
        var magic = Vector512.Create(12582912f);
        var kMagic = Vector512.FusedMultiplyAdd(t, Vector512.Create(Log2E), magic);   // bits: 0x4B400000 + k
        var k = kMagic - magic;
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Hi), t);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(1f / 5040), r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f));
        // 2ᵏ: k sits in the low bits of kMagic, and shifting it into the exponent drops the rest
        // (no float-to-int conversion, whose saturating form costs several instructions)
        var scale = (kMagic.AsInt32() << 23) + Vector512.Create(127 << 23);
        var e = p * scale.AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(t, Vector512.Create(Floor)), Vector512<float>.Zero, e);
    }

    // ---- the same in eight lanes, for machines without AVX-512 ----------------------------

    /// <summary>Σ exp(xᵢ − m) with Vector256 (AVX2 machines): unaligned loads, the tail as the last 8 masked to what is left.</summary>
    public static unsafe float Sum256(ReadOnlySpan<float> x, float m)
    {
        int n = x.Length;
        if (n < 8)
        {
            float small = 0;
            for (int j = 0; j < n; j++) small += MathF.Exp(x[j] - m);
            return small;
        }
        var shift = Vector256.Create(m);
        var none = Vector256.Create(float.NegativeInfinity);
        fixed (float* p = x)
        {
            Vector256<float> s0 = Vector256<float>.Zero, s1 = Vector256<float>.Zero;
            int i = 0;
            for (; i <= n - 16; i += 16)
            {
                s0 += Exp(Vector256.Load(p + i) - shift);
                s1 += Exp(Vector256.Load(p + i + 8) - shift);
            }
            if (i <= n - 8)
            {
                s0 += Exp(Vector256.Load(p + i) - shift);
                i += 8;
            }
            if (i < n)
            {
                var fresh = ~Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(8 - (n - i))).AsSingle();
                s1 += Exp(Vector256.ConditionalSelect(fresh, Vector256.Load(p + n - 8) - shift, none));
            }
            return Vector256.Sum(s0 + s1);
        }
    }

    /// <summary>dst = (x − m) − logSum in one pass, eight lanes at a time; with <paramref name="exp"/>, its exp.</summary>
    public static void LogSoftmax256(ReadOnlySpan<float> x, float m, float logSum, Span<float> dst, bool exp = false)
    {
        ref float xr = ref MemoryMarshal.GetReference(x), dr = ref MemoryMarshal.GetReference(dst);
        int n = x.Length, i = 0;
        var shift = Vector256.Create(m);
        var ls = Vector256.Create(logSum);
        if (exp)
        {
            for (; i <= n - 8; i += 8)
                Exp(Vector256.LoadUnsafe(ref xr, (nuint)i) - shift - ls).StoreUnsafe(ref dr, (nuint)i);
            if (i < n) Tail(x[i..], m, logSum, dst[i..]);
            return;
        }
        for (; i <= n - 8; i += 8)
            (Vector256.LoadUnsafe(ref xr, (nuint)i) - shift - ls).StoreUnsafe(ref dr, (nuint)i);
        for (; i < n; i++) dst[i] = x[i] - m - logSum;
    }

    /// <summary>
    /// exp t for t ≤ 0 in eight lanes: the Vector512 form's steps, term for term. Also erf's and
    /// Φ's e^(−z²) (<see cref="Gauss"/>): half the time of Vector256.Exp, which works in double.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> t)
    {
        var magic = Vector256.Create(12582912f);
        var kMagic = Vector256.FusedMultiplyAdd(t, Vector256.Create(Log2E), magic);
        var k = kMagic - magic;
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Hi), t);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(1f / 5040), r, Vector256.Create(1f / 720));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f));
        var scale = (kMagic.AsInt32() << 23) + Vector256.Create(127 << 23);
        var e = p * scale.AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(t, Vector256.Create(Floor)), Vector256<float>.Zero, e);
    }
}
