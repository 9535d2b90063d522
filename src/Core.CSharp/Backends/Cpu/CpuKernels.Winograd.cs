using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// 3×3 convolution at stride 1 by Winograd's F(2×2, 3×3) (Lavin and Gray, "Fast Algorithms for
/// Convolutional Neural Networks", 2015): each 4×4 input patch d and filter g go to 16
/// coefficients, V = Bᵀ d B and U = G g Gᵀ; the 16 products M[ξ] = U[ξ] · V[ξ] over the
/// channels are GEMMs; and each 2×2 output tile is Aᵀ M A. 16 multiplies a tile and channel
/// pair where the direct sum takes 36 (2.25× fewer), for data transforms that are additions
/// only (the filters' and the weight gradient's multiply by ½ too).
/// The same kernel gives the input gradient: dx is the convolution of g with the filters
/// rotated 180° and their two channel axes swapped, at padding 2 − p. The weight gradient is
/// the forward's adjoint: dW = Gᵀ [Σ over tiles (A dy Aᵀ) ⊙ (Bᵀ d B)] G, whose sum over the
/// tiles is again 16 GEMMs. Rounding differs from the direct sum (a few ulps more; the conv2d
/// loop tests bound both).
/// </summary>
internal sealed partial class CpuKernels
{
    [ThreadStatic] static float[]? winogradV, winogradM;

    /// <summary>
    /// Tiles a block of the products covers, in whole rows of tiles (one row where a row has
    /// more): V and M for 64 channels are 256 KB each, in the L2.
    /// </summary>
    const int WinogradTiles = 64;

    /// <summary>
    /// Whether a convolution runs by Winograd: 3×3, stride 1, padding at most 2 (so the input
    /// gradient has one too), float32 on AVX-512 or AVX2 (the transforms work on 16 or 8 tiles
    /// at a time), and enough channels on both sides for the 16 products to be GEMMs worth
    /// their packing.
    /// </summary>
    static bool Winograd(Window w, int inChannels, int outChannels, int width) =>
        (width == 16 || width == 8 && Avx2.IsSupported) && w.Kh == 3 && w.Kw == 3 && w.Stride == 1 && w.Padding <= 2 && inChannels >= 16 && outChannels >= 16;

    /// <summary>
    /// U[ξ] [cout, cin] = G g Gᵀ for every filter g: w [cout, cin, 3, 3] as it is, or (for the
    /// input gradient, <paramref name="flipped"/>) w [cin, cout, 3, 3] with g[co, ci] = w[ci, co] rotated 180°.
    /// </summary>
    static float[] WinogradFilters(float[] ws, int wo, int cout, int cin, bool flipped)
    {
        var u = Buffers.Uninitialized<float>(16 * cout * cin);
        Span<float> g = stackalloc float[9];
        Span<float> gg = stackalloc float[12];
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
            {
                int at = wo + (flipped ? ci * cout + co : co * cin + ci) * 9;
                for (int t = 0; t < 9; t++) g[t] = ws[at + (flipped ? 8 - t : t)];
                // G g: rows g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2 (rows of g as 3-vectors)
                for (int j = 0; j < 3; j++)
                {
                    float a = g[j], b = g[3 + j], c = g[6 + j];
                    gg[j] = a;
                    gg[3 + j] = 0.5f * (a + b + c);
                    gg[6 + j] = 0.5f * (a - b + c);
                    gg[9 + j] = c;
                }
                // (G g) Gᵀ: each row (a, b, c) to (a, (a + b + c)/2, (a − b + c)/2, c)
                for (int i = 0; i < 4; i++)
                {
                    float a = gg[3 * i], b = gg[3 * i + 1], c = gg[3 * i + 2];
                    u[((4 * i + 0) * cout + co) * cin + ci] = a;
                    u[((4 * i + 1) * cout + co) * cin + ci] = 0.5f * (a + b + c);
                    u[((4 * i + 2) * cout + co) * cin + ci] = 0.5f * (a - b + c);
                    u[((4 * i + 3) * cout + co) * cin + ci] = c;
                }
            }
        return u;
    }

    /// <summary>
    /// y [n, cout, oh, ow] (oh = h + 2p − 2) from x [n, cin, h, wd] and the filters w (as
    /// <see cref="WinogradFilters"/> reads them), plus the bias if any. Images go to the cores;
    /// each takes its tiles a block of rows at a time: input transform, 16 GEMMs, output transform.
    /// </summary>
    static float[] WinogradConv(float[] xs, int xo, int n, int cin, int h, int wd, float[] ws, int wo, bool flipped, int cout, float[]? bias, int pad, int width)
    {
        int oh = h + 2 * pad - 2, ow = wd + 2 * pad - 2;
        var y = Buffers.Uninitialized<float>(n * cout * oh * ow);
        if (y.Length == 0) return y;
        if ((long)xo + (long)n * cin * h * wd > xs.Length)
            throw new IndexOutOfRangeException("conv2d: image shorter than its shape");
        var u = WinogradFilters(ws, wo, cout, cin, flipped);
        int th = (oh + 1) / 2, tw = (ow + 1) / 2;
        int rowsPerBlock = Math.Max(1, WinogradTiles / tw), block = rowsPerBlock * tw;
        PerImage(n, (long)cout * cin * oh * ow * 4, (img, serial) =>
        {
            float[] v = Scratch(ref winogradV, 16 * cin * block), m = Scratch(ref winogradM, 16 * cout * block);
            for (int ty0 = 0; ty0 < th; ty0 += rowsPerBlock)
            {
                int rows = Math.Min(rowsPerBlock, th - ty0), tiles = rows * tw;
                if (width == 16) InputTransform(xs, xo + img * cin * h * wd, cin, h, wd, pad, ty0, rows, tw, v, tiles);
                else InputTransform8(xs, xo + img * cin * h * wd, cin, h, wd, pad, ty0, rows, tw, v, tiles);
                for (int xi = 0; xi < 16; xi++)
                    Sgemm.Multiply(new(u, xi * cout * cin, cin, 1), new Sgemm.View(v, xi * cin * tiles, tiles, 1), m, xi * cout * tiles, cout, tiles, cin, serial: serial);
                if (width == 16) OutputTransform(m, cout, tiles, ty0, rows, tw, bias, y, img * cout * oh * ow, oh, ow);
                else OutputTransform8(m, cout, tiles, ty0, rows, tw, bias, y, img * cout * oh * ow, oh, ow);
            }
        });
        if (u.Length >= Buffers.MinPooled) Buffers.Return(u);
        return y;
    }

    /// <summary>This thread's buffer in <paramref name="slot"/>, at least n long (grown, never shrunk).</summary>
    static float[] Scratch(ref float[]? slot, int n) => slot is { } a && a.Length >= n ? a : slot = new float[n];

    static readonly Vector512<int> EvenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    static readonly Vector512<int> OddLanes = EvenLanes + Vector512<int>.One;

    /// <summary>
    /// V[ξ, ch, t] = (Bᵀ d B)[ξ] for the tiles t of rows [ty0, ty0 + rows) of one image: sixteen
    /// tiles of a row at a time, the patch columns 0-3 of each as the even and odd lanes of two
    /// 32-float windows two apart (masked loads give the zeros of the padding).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void InputTransform(float[] xs, int off, int cin, int h, int wd, int pad, int ty0, int rows, int tw, float[] v, int tiles)
    {
        if (off < 0 || (long)off + (long)cin * h * wd > xs.Length || 16L * cin * tiles > v.Length)
            throw new IndexOutOfRangeException("conv2d: an input tile outside the image");
        var lanes = ImageColumns.Lanes;
        var zero = Vector512<float>.Zero;
        var d = stackalloc Vector512<float>[16];
        fixed (float* px = xs, pv = v)
            for (int tx0 = 0; tx0 < tw; tx0 += 16)
            {
                // lanes of the windows at x = 2·tx0 − p (+ 16) and two further that lie inside a row
                int x0 = 2 * tx0 - pad;
                Vector512<float> m0 = Inside(x0, wd, 16), m1 = Inside(x0 + 16, wd, 16), m2 = Inside(x0 + 2, wd, 16), m3 = Inside(x0 + 18, wd, 16);
                var store = Vector512.LessThan(lanes, Vector512.Create((float)(tw - tx0)));
                for (int ch = 0; ch < cin; ch++)
                {
                    float* plane = px + off + (long)ch * h * wd;
                    for (int r = 0; r < rows; r++)
                    {
                        int ty = ty0 + r;
                        // d[4i + k]: patch row i, column k, for 16 tiles
                        for (int i = 0; i < 4; i++)
                        {
                            int yy = 2 * ty - pad + i;
                            if ((uint)yy >= (uint)h)
                            {
                                d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = d[4 * i + 3] = zero;
                                continue;
                            }
                            float* row = plane + (long)yy * wd + x0;
                            var lo = Avx512F.MaskLoad(row, m0, zero);
                            var hi = Avx512F.MaskLoad(row + 16, m1, zero);
                            var lo2 = Avx512F.MaskLoad(row + 2, m2, zero);
                            var hi2 = Avx512F.MaskLoad(row + 18, m3, zero);
                            d[4 * i] = Avx512F.PermuteVar16x32x2(lo, EvenLanes, hi);
                            d[4 * i + 1] = Avx512F.PermuteVar16x32x2(lo, OddLanes, hi);
                            d[4 * i + 2] = Avx512F.PermuteVar16x32x2(lo2, EvenLanes, hi2);
                            d[4 * i + 3] = Avx512F.PermuteVar16x32x2(lo2, OddLanes, hi2);
                        }
                        float* dst = pv + (long)ch * tiles + r * tw + tx0;
                        long plane16 = (long)cin * tiles;
                        for (int k = 0; k < 4; k++)
                        {
                            // Bᵀ d down column k: d0 − d2, d1 + d2, d2 − d1, d1 − d3
                            var t0 = d[k] - d[8 + k];
                            var t1 = d[4 + k] + d[8 + k];
                            var t2 = d[8 + k] - d[4 + k];
                            var t3 = d[4 + k] - d[12 + k];
                            d[k] = t0;
                            d[4 + k] = t1;
                            d[8 + k] = t2;
                            d[12 + k] = t3;
                        }
                        for (int i = 0; i < 4; i++)
                        {
                            // (Bᵀ d) B along row i: u0 − u2, u1 + u2, u2 − u1, u1 − u3
                            Vector512<float> a = d[4 * i], b = d[4 * i + 1], c = d[4 * i + 2], e = d[4 * i + 3];
                            Avx512F.MaskStore(dst + (4 * i + 0) * plane16, store, a - c);
                            Avx512F.MaskStore(dst + (4 * i + 1) * plane16, store, b + c);
                            Avx512F.MaskStore(dst + (4 * i + 2) * plane16, store, c - b);
                            Avx512F.MaskStore(dst + (4 * i + 3) * plane16, store, b - e);
                        }
                    }
                }
            }
    }

    static readonly Vector512<int> LowPairs = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    static readonly Vector512<int> HighPairs = LowPairs + Vector512.Create(8);

    /// <summary>
    /// y's 2×2 tiles from M[ξ, co, t]: Aᵀ M A (+ bias) for sixteen tiles at a time, the two
    /// columns of a tile row interleaved into 32 outputs; masked stores clip the last tile row
    /// and column of an odd-sized output.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void OutputTransform(float[] m, int cout, int tiles, int ty0, int rows, int tw, float[]? bias, float[] y, int off, int oh, int ow)
    {
        if (off < 0 || (long)off + (long)cout * oh * ow > y.Length || 16L * cout * tiles > m.Length)
            throw new IndexOutOfRangeException("conv2d: an output tile outside the image");
        var lanes = ImageColumns.Lanes;
        var s = stackalloc Vector512<float>[8];
        long plane16 = (long)cout * tiles;
        fixed (float* pm = m, py = y)
            for (int co = 0; co < cout; co++)
            {
                var b = Vector512.Create(bias is null ? 0f : bias[co]);
                for (int r = 0; r < rows; r++)
                {
                    int oy = 2 * (ty0 + r);
                    for (int tx0 = 0; tx0 < tw; tx0 += 16)
                    {
                        float* src = pm + (long)co * tiles + r * tw + tx0;
                        // the last tiles of a row: lanes past it are not read (the end of M may follow)
                        var valid = Vector512.LessThan(lanes, Vector512.Create((float)(tw - tx0)));
                        var zero = Vector512<float>.Zero;
                        for (int j = 0; j < 4; j++)
                        {
                            // Aᵀ M down column j: m0 + m1 + m2, m1 − m2 − m3
                            var m0 = Avx512F.MaskLoad(src + j * plane16, valid, zero);
                            var m1 = Avx512F.MaskLoad(src + (4 + j) * plane16, valid, zero);
                            var m2 = Avx512F.MaskLoad(src + (8 + j) * plane16, valid, zero);
                            var m3 = Avx512F.MaskLoad(src + (12 + j) * plane16, valid, zero);
                            s[j] = m0 + m1 + m2;
                            s[4 + j] = m1 - m2 - m3;
                        }
                        int x = 2 * tx0;
                        var lo = Vector512.LessThan(lanes, Vector512.Create((float)(ow - x)));
                        var hi = Vector512.LessThan(lanes, Vector512.Create((float)(ow - x - 16)));
                        for (int i = 0; i < 2 && oy + i < oh; i++)
                        {
                            // (Aᵀ M) A along row i: s0 + s1 + s2, s1 − s2 − s3
                            Vector512<float> a = s[4 * i], c = s[4 * i + 1], e = s[4 * i + 2], f = s[4 * i + 3];
                            var left = a + c + e + b;
                            var right = c - e - f + b;
                            float* dst = py + off + ((long)co * oh + oy + i) * ow + x;
                            Avx512F.MaskStore(dst, lo, Avx512F.PermuteVar16x32x2(left, LowPairs, right));
                            Avx512F.MaskStore(dst + 16, hi, Avx512F.PermuteVar16x32x2(left, HighPairs, right));
                        }
                    }
                }
            }
    }

    /// <summary>
    /// dW [cout, cin, 3, 3] of y = x ⋆ w at stride 1: P[ξ] = Σ over images and tiles of
    /// Ŷ[ξ] · V[ξ]ᵀ (Ŷ = A dy Aᵀ, V = Bᵀ d B as in the forward), each core into its own P, the
    /// partials added in core order; then dW = Gᵀ P G for every filter.
    /// </summary>
    static float[] WinogradWeightGrad(float[] gs, int go, float[] xs, int xo, int n, int cin, int h, int wd, int cout, int pad, int width)
    {
        int oh = h + 2 * pad - 2, ow = wd + 2 * pad - 2;
        var dw = Buffers.Zeroed<float>(cout * cin * 9);
        if (dw.Length == 0 || n == 0 || oh <= 0 || ow <= 0) return dw;
        if ((long)xo + (long)n * cin * h * wd > xs.Length || (long)go + (long)n * cout * oh * ow > gs.Length)
            throw new IndexOutOfRangeException("conv2d_weight_grad: image or gradient shorter than their shapes");
        int th = (oh + 1) / 2, tw = (ow + 1) / 2;
        int rowsPerBlock = Math.Max(1, WinogradTiles / tw), block = rowsPerBlock * tw;
        var p = Buffers.Zeroed<float>(16 * cout * cin);
        SumOverImages(n, (long)n * cout * cin * oh * ow * 4, p, (first, end, serial, acc) =>
        {
            // Ŷ in the buffer the forward keeps M in
            float[] v = Scratch(ref winogradV, 16 * cin * block), yh = Scratch(ref winogradM, 16 * cout * block);
            for (int img = first; img < end; img++)
                for (int ty0 = 0; ty0 < th; ty0 += rowsPerBlock)
                {
                    int rows = Math.Min(rowsPerBlock, th - ty0), tiles = rows * tw;
                    if (width == 16)
                    {
                        InputTransform(xs, xo + img * cin * h * wd, cin, h, wd, pad, ty0, rows, tw, v, tiles);
                        GradTransform(gs, go + img * cout * oh * ow, cout, oh, ow, ty0, rows, tw, yh, tiles);
                    }
                    else
                    {
                        InputTransform8(xs, xo + img * cin * h * wd, cin, h, wd, pad, ty0, rows, tw, v, tiles);
                        GradTransform8(gs, go + img * cout * oh * ow, cout, oh, ow, ty0, rows, tw, yh, tiles);
                    }
                    // Ŷ[ξ] [cout, tiles] times V[ξ]ᵀ (element (t, ci) of it is V[ξ, ci, t])
                    for (int xi = 0; xi < 16; xi++)
                        Sgemm.Multiply(new(yh, xi * cout * tiles, tiles, 1), new Sgemm.View(v, xi * cin * tiles, 1, tiles), acc, xi * cout * cin, cout, cin, tiles, accumulate: true, serial: serial);
                }
        });
        Span<float> r = stackalloc float[12];
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cin; ci++)
            {
                // Gᵀ P (3×4): rows P0 + (P1 + P2)/2, (P1 − P2)/2, (P1 + P2)/2 + P3 (rows of P as 4-vectors)
                int stride = cout * cin, at0 = co * cin + ci;
                for (int b = 0; b < 4; b++)
                {
                    float p0 = p[at0 + b * stride], p1 = p[at0 + (4 + b) * stride], p2 = p[at0 + (8 + b) * stride], p3 = p[at0 + (12 + b) * stride];
                    r[b] = p0 + 0.5f * (p1 + p2);
                    r[4 + b] = 0.5f * (p1 - p2);
                    r[8 + b] = 0.5f * (p1 + p2) + p3;
                }
                // (Gᵀ P) G: each row (a, b, c, d) to (a + (b + c)/2, (b − c)/2, (b + c)/2 + d)
                int at = (co * cin + ci) * 9;
                for (int i = 0; i < 3; i++)
                {
                    float a0 = r[4 * i], a1 = r[4 * i + 1], a2 = r[4 * i + 2], a3 = r[4 * i + 3];
                    dw[at + 3 * i] = a0 + 0.5f * (a1 + a2);
                    dw[at + 3 * i + 1] = 0.5f * (a1 - a2);
                    dw[at + 3 * i + 2] = 0.5f * (a1 + a2) + a3;
                }
            }
        if (p.Length >= Buffers.MinPooled) Buffers.Return(p);
        return dw;
    }

    /// <summary>
    /// Ŷ[ξ, co, t] = (A dy Aᵀ)[ξ] for the 2×2 tiles t of dy in rows [ty0, ty0 + rows): sixteen
    /// tiles at a time, a tile's two columns the even and odd lanes of 32 outputs (masked loads
    /// give zeros past an odd-sized output, which the forward computed and dropped).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void GradTransform(float[] gs, int off, int cout, int oh, int ow, int ty0, int rows, int tw, float[] yh, int tiles)
    {
        if (off < 0 || (long)off + (long)cout * oh * ow > gs.Length || 16L * cout * tiles > yh.Length)
            throw new IndexOutOfRangeException("conv2d_weight_grad: a gradient tile outside the output");
        var lanes = ImageColumns.Lanes;
        var zero = Vector512<float>.Zero;
        long plane16 = (long)cout * tiles;
        fixed (float* pg = gs, py = yh)
            for (int tx0 = 0; tx0 < tw; tx0 += 16)
            {
                int x = 2 * tx0;
                var lo = Vector512.LessThan(lanes, Vector512.Create((float)(ow - x)));
                var hi = Vector512.LessThan(lanes, Vector512.Create((float)(ow - x - 16)));
                var store = Vector512.LessThan(lanes, Vector512.Create((float)(tw - tx0)));
                for (int co = 0; co < cout; co++)
                    for (int r = 0; r < rows; r++)
                    {
                        int oy = 2 * (ty0 + r);
                        float* row0 = pg + off + ((long)co * oh + oy) * ow + x;
                        var a0 = Avx512F.MaskLoad(row0, lo, zero);
                        var a1 = Avx512F.MaskLoad(row0 + 16, hi, zero);
                        Vector512<float> b0 = zero, b1 = zero;
                        if (oy + 1 < oh)
                        {
                            b0 = Avx512F.MaskLoad(row0 + ow, lo, zero);
                            b1 = Avx512F.MaskLoad(row0 + ow + 16, hi, zero);
                        }
                        // the tile [[p, q], [s, u]]
                        var tp = Avx512F.PermuteVar16x32x2(a0, EvenLanes, a1);
                        var tq = Avx512F.PermuteVar16x32x2(a0, OddLanes, a1);
                        var ts = Avx512F.PermuteVar16x32x2(b0, EvenLanes, b1);
                        var tu = Avx512F.PermuteVar16x32x2(b0, OddLanes, b1);
                        // A dy: rows (p, q), (p + s, q + u), (p − s, q − u), (−s, −u)
                        float* dst = py + (long)co * tiles + r * tw + tx0;
                        GradRow(dst, plane16, store, tp, tq);
                        GradRow(dst + 4 * plane16, plane16, store, tp + ts, tq + tu);
                        GradRow(dst + 8 * plane16, plane16, store, tp - ts, tq - tu);
                        GradRow(dst + 12 * plane16, plane16, store, -ts, -tu);
                    }
            }
    }

    /// <summary>A row (a, b) of A dy times Aᵀ: (a, a + b, a − b, −b), as four coefficients a plane apart.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void GradRow(float* dst, long plane, Vector512<float> store, Vector512<float> a, Vector512<float> b)
    {
        Avx512F.MaskStore(dst, store, a);
        Avx512F.MaskStore(dst + plane, store, a + b);
        Avx512F.MaskStore(dst + 2 * plane, store, a - b);
        Avx512F.MaskStore(dst + 3 * plane, store, -b);
    }
}
