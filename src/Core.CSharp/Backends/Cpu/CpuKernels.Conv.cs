using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Convolution in float32 as implicit GEMM: the forward packs the GEMM's panels straight from
/// the image (<see cref="ImageColumns"/>), so its column matrix never exists; the input
/// gradient's product goes to a per-thread column buffer that is folded back at once; the
/// weight gradient (CpuKernels.ConvWeightGrad.cs) reads the columns a block or an image at a
/// time. 3×3 layers at stride 1 with 16+ channels go by Winograd instead
/// (CpuKernels.Winograd.cs), and layers of at most 8 output channels by direct kernels
/// (CpuKernels.ConvDirect.cs). Images are shared over the cores. The three kernels are conv2d
/// and its two pullbacks (input and weight), so a training step never materialises
/// [N, C·kh·kw, oh·ow], never copies a transposed weight, and never builds the per-image
/// weight gradients [N, O, C·kh·kw] to sum.
/// </summary>
internal sealed partial class CpuKernels
{
    public bool FusesConv(DType dtype) => dtype == DType.Float32;

    [ThreadStatic] static float[]? columns;

    /// <summary>This thread's column buffer, at least n long (grown, never shrunk).</summary>
    static float[] Columns(int n) => columns is { } c && c.Length >= n ? c : columns = new float[Math.Max(n, 256)];

    /// <summary>
    /// Shares the images over the cores when there are enough of them (each GEMM serial), else
    /// runs the images in order with each GEMM over all cores: the same sums either way.
    /// </summary>
    static void PerImage(int n, long workPerImage, Action<int, bool> image)
    {
        if (n >= 2 && Team.Size > 1 && (long)n * workPerImage >= 1 << 16) Team.For(n, i => image(i, true));
        else for (int i = 0; i < n; i++) image(i, false);
    }

    /// <summary>
    /// One image's columns as a GEMM operand, never materialised: element (k, l) is
    /// x[ch, oy·s + i − p, ox·s + j − p] for k = (ch·kh + i)·kw + j and l = oy·ow + ox, 0 outside
    /// the image. The forward product packs its panels straight from the image (k × l); the
    /// weight gradient packs the transpose (l × k) where it does not write it out (AVX-512:
    /// see Patches). The [C·kh·kw, oh·ow] column matrix (2.4 MB
    /// for 64 channels at 32×32) had been written, then read back to pack: more memory traffic
    /// than arithmetic for the products of a 3×3 convolution.
    /// </summary>
    readonly unsafe struct ImageColumns(float[] x, int off, int c, int h, int wd, Window w, bool transposed) : Sgemm.IPanels
    {
        readonly int ow = w.OutW(wd), khw = w.Kh * w.Kw, rows = c * w.Kh * w.Kw, length = w.OutH(h) * w.OutW(wd);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Pack(int pc, int kc, int jc, int nc, int nr, float* dst)
        {
            if (pc < 0 || kc < 0 || jc < 0 || nc < 0 || pc + kc > (transposed ? length : rows) || jc + nc > (transposed ? rows : length) || (long)off + (long)c * h * wd > x.Length)
                throw new IndexOutOfRangeException("conv2d: a panel outside the image's columns");
            // the runs of output positions along l that a row of the columns crosses: (oy, ox, length)
            int span = transposed ? kc : Math.Min(nr, nc);
            int* seg = stackalloc int[3 * (span + 1)];
            fixed (float* px = x)
            {
                float* image = px + off;
                if (!transposed)
                {
                    // strip s, row p: columns n0 .. n0 + nw of row pc + p, zeros to nr; the rows
                    // walk (ch, i, j) without a division each
                    int tableRuns = nr / ow + 2, entries = khw * tableRuns;
                    int width = masks;
                    bool byMasks = w.Stride == 1 && entries <= 256 && (nr == 32 ? width == 16 : nr == 16 && width >= 8);
                    int* offsets = stackalloc int[byMasks ? entries : 0];
                    // two masks an entry: 512-bit ones for Strip32, 256-bit ones (half the room) for Strip16
                    var lanes = stackalloc Vector512<float>[byMasks ? 2 * entries : 0];
                    for (int s = 0; s * nr < nc; s++)
                    {
                        int n0 = jc + s * nr, nw = Math.Min(nr, jc + nc - n0), segs = Segments(n0, nw, seg);
                        float* o = dst + (long)s * nr * kc;
                        if (byMasks && segs <= tableRuns)
                        {
                            if (nr == 32) Strip32(image, pc, kc, seg, segs, offsets, lanes, o);
                            else Strip16(image, pc, kc, seg, segs, offsets, (Vector256<float>*)lanes, o);
                            continue;
                        }
                        int ch = pc / khw, r = pc - ch * khw, i = r / w.Kw, j = r - i * w.Kw;
                        for (int p = 0; p < kc; p++, o += nr)
                        {
                            Row(image, ch, i, j, seg, segs, o);
                            for (int t = nw; t < nr; t++) o[t] = 0;
                            if (++j == w.Kw) { j = 0; if (++i == w.Kh) { i = 0; ch++; } }
                        }
                    }
                    return;
                }
                // the transpose: nr rows of the columns (kc long each, the same runs of l) into a
                // scratch block, then 8×8 register transposes into the strip
                int runs = Segments(pc, kc, seg);
                var scratch = Columns(nr * kc);
                fixed (float* t = scratch)
                    for (int s = 0; s * nr < nc; s++)
                    {
                        int q0 = jc + s * nr, nw = Math.Min(nr, jc + nc - q0);
                        float* o = dst + (long)s * nr * kc;
                        for (int q = 0; q < nw; q++)
                        {
                            int k = q0 + q, ch = k / khw, r = k - ch * khw, i = r / w.Kw;
                            Row(image, ch, i, r - i * w.Kw, seg, runs, t + (long)q * kc);
                        }
                        int q8 = Avx.IsSupported ? nw / 8 * 8 : 0, p8 = kc / 8 * 8;
                        for (int q = 0; q < q8; q += 8)
                            for (int p = 0; p < p8; p += 8)
                                Sgemm.Transpose8(t + (long)q * kc + p, kc, o + (long)p * nr + q, nr);
                        for (int q = 0; q < nr; q++)
                        {
                            if (q >= nw) { for (int p = 0; p < kc; p++) o[p * nr + q] = 0; continue; }
                            for (int p = q < q8 ? p8 : 0; p < kc; p++) o[p * nr + q] = t[(long)q * kc + p];
                        }
                    }
            }
        }

        /// <summary>
        /// A strip of 32 columns (stride 1, AVX-512) by masked loads: for each window position
        /// (i, j) and run of the strip, the run's offset in a channel plane and the lanes it fills,
        /// worked out once a strip; then each row is one or two masked loads a half (zeros where
        /// the window leaves the image) and two stores, with no per-row arithmetic on positions.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Strip32(float* image, int pc, int kc, int* seg, int segs, int* offsets, Vector512<float>* lanes, float* o)
        {
            var zero = Vector512<float>.Zero;
            for (int s = 0, d0 = 0; s < segs; s++)
            {
                int oy = seg[3 * s], ox = seg[3 * s + 1], run = seg[3 * s + 2];
                for (int i = 0; i < w.Kh; i++)
                    for (int j = 0; j < w.Kw; j++)
                    {
                        int e = (i * w.Kw + j) * segs + s, y = oy + i - w.Padding, x0 = ox + j - w.Padding;
                        int lo = Math.Clamp(-x0, 0, run), hi = Math.Clamp(wd - x0, lo, run);
                        if ((uint)y >= (uint)h) lo = hi = 0;
                        // lane t of the strip (d0 + lo ≤ t < d0 + hi) reads plane[offset + t]
                        offsets[e] = y * wd + x0 - d0;
                        var from = Vector512.Create((float)(d0 + lo));
                        var to = Vector512.Create((float)(d0 + hi));
                        lanes[2 * e] = Vector512.GreaterThanOrEqual(Lanes, from) & Vector512.LessThan(Lanes, to);
                        var upper = Lanes + Vector512.Create(16f);
                        lanes[2 * e + 1] = Vector512.GreaterThanOrEqual(upper, from) & Vector512.LessThan(upper, to);
                    }
                d0 += run;
            }
            int ch = pc / khw, r = pc - ch * khw;
            float* plane = image + (long)ch * h * wd;
            for (int p = 0; p < kc; p++, o += 32)
            {
                Vector512<float> v0 = zero, v1 = zero;
                for (int s = 0; s < segs; s++)
                {
                    int e = r * segs + s;
                    // a lane masked off is neither read nor faulted, so the pointer may lie outside the plane
                    float* src = plane + offsets[e];
                    v0 = Avx512F.MaskLoad(src, lanes[2 * e], v0);
                    v1 = Avx512F.MaskLoad(src + 16, lanes[2 * e + 1], v1);
                }
                v0.Store(o);
                v1.Store(o + 16);
                if (++r == khw) { r = 0; plane += (long)h * wd; }
            }
        }

        /// <summary>
        /// <see cref="Strip32"/> for the 16-column strips of machines without AVX-512: the same
        /// table of offsets, with two 256-bit masks an entry, and AVX masked loads, which give
        /// zeros in the lanes masked off (so the runs of a row are OR-ed together).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        void Strip16(float* image, int pc, int kc, int* seg, int segs, int* offsets, Vector256<float>* lanes, float* o)
        {
            for (int s = 0, d0 = 0; s < segs; s++)
            {
                int oy = seg[3 * s], ox = seg[3 * s + 1], run = seg[3 * s + 2];
                for (int i = 0; i < w.Kh; i++)
                    for (int j = 0; j < w.Kw; j++)
                    {
                        int e = (i * w.Kw + j) * segs + s, y = oy + i - w.Padding, x0 = ox + j - w.Padding;
                        int lo = Math.Clamp(-x0, 0, run), hi = Math.Clamp(wd - x0, lo, run);
                        if ((uint)y >= (uint)h) lo = hi = 0;
                        offsets[e] = y * wd + x0 - d0;
                        var from = Vector256.Create((float)(d0 + lo));
                        var to = Vector256.Create((float)(d0 + hi));
                        lanes[2 * e] = Vector256.GreaterThanOrEqual(Lanes8, from) & Vector256.LessThan(Lanes8, to);
                        var upper = Lanes8 + Vector256.Create(8f);
                        lanes[2 * e + 1] = Vector256.GreaterThanOrEqual(upper, from) & Vector256.LessThan(upper, to);
                    }
                d0 += run;
            }
            int ch = pc / khw, r = pc - ch * khw;
            float* plane = image + (long)ch * h * wd;
            for (int p = 0; p < kc; p++, o += 16)
            {
                Vector256<float> v0 = Vector256<float>.Zero, v1 = Vector256<float>.Zero;
                for (int s = 0; s < segs; s++)
                {
                    int e = r * segs + s;
                    float* src = plane + offsets[e];
                    v0 |= Avx.MaskLoad(src, lanes[2 * e]);
                    v1 |= Avx.MaskLoad(src + 8, lanes[2 * e + 1]);
                }
                v0.Store(o);
                v1.Store(o + 8);
                if (++r == khw) { r = 0; plane += (long)h * wd; }
            }
        }

        /// <summary>
        /// Columns [l0, l0 + len) of every row of the columns into dst (row q at dst + q·len):
        /// a block of the column matrix, for the weight gradient's product that reads it in place.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Block(int l0, int len, float* dst)
        {
            if (l0 < 0 || len < 0 || l0 + len > length || (long)off + (long)c * h * wd > x.Length)
                throw new IndexOutOfRangeException("conv2d: a block outside the image's columns");
            int* seg = stackalloc int[3 * (len + 1)];
            int runs = Segments(l0, len, seg);
            fixed (float* px = x)
            {
                float* image = px + off;
                int q = 0;
                // stride 1 with outputs as wide as the image ('same' padding): a row's runs in
                // consecutive image rows sit end to end in memory, so they are one copy
                bool contiguous = w.Stride == 1 && ow == wd;
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < w.Kh; i++)
                        for (int j = 0; j < w.Kw; j++, q++)
                            if (contiguous) RowInOneCopy(image + (long)ch * h * wd, i, j, seg, runs, dst + (long)q * len);
                            else Row(image, ch, i, j, seg, runs, dst + (long)q * len);
            }
        }

        /// <summary>The runs of output positions l0 .. l0 + len, one per output row crossed, as (oy, ox, length) triples; their count.</summary>
        int Segments(int l0, int len, int* seg)
        {
            int count = 0, oy = l0 / ow, ox = l0 - oy * ow;
            for (; len > 0; count++, ox = 0, oy++)
            {
                int run = Math.Min(ow - ox, len);
                seg[3 * count] = oy;
                seg[3 * count + 1] = ox;
                seg[3 * count + 2] = run;
                len -= run;
            }
            return count;
        }

        /// <summary>
        /// <see cref="Row"/> for stride 1 and ow = wd: each stretch of runs whose image rows exist
        /// is copied at once (clipped to the plane), then the entries left and right of the image
        /// in each run, which the copy took from the neighbouring image rows, are zeroed.
        /// </summary>
        void RowInOneCopy(float* plane, int i, int j, int* seg, int segs, float* dst)
        {
            long area = (long)h * wd;
            for (int s = 0; s < segs;)
            {
                int oy = seg[3 * s], ox = seg[3 * s + 1], y = oy + i - w.Padding;
                if ((uint)y >= (uint)h)
                {
                    Zero(dst, seg[3 * s + 2]);
                    dst += seg[3 * s + 2];
                    s++;
                    continue;
                }
                int e = s, total = 0;
                for (; e < segs && (uint)(seg[3 * e] + i - w.Padding) < (uint)h; e++) total += seg[3 * e + 2];
                long from = (long)y * wd + ox + j - w.Padding;
                int lo = (int)Math.Clamp(-from, 0, total), hi = (int)Math.Clamp(area - from, lo, total);
                Zero(dst, lo);
                Copy(plane + from + lo, dst + lo, hi - lo);
                Zero(dst + hi, total - hi);
                for (float* d = dst; s < e; s++)
                {
                    int run = seg[3 * s + 2], x0 = seg[3 * s + 1] + j - w.Padding;
                    int left = Math.Clamp(-x0, 0, run), right = Math.Clamp(wd - x0, left, run);
                    Zero(d, left);
                    Zero(d + right, run - right);
                    d += run;
                }
                dst += total;
            }
        }

        /// <summary>Row (ch, i, j) of the columns over the given runs of l, into dst: one run of the image (or zeros) per output row.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        void Row(float* image, int ch, int i, int j, int* seg, int segs, float* dst)
        {
            float* plane = image + (long)ch * h * wd;
            for (int s = 0; s < segs; s++)
            {
                int oy = seg[3 * s], ox = seg[3 * s + 1], run = seg[3 * s + 2], y = oy * w.Stride + i - w.Padding;
                if ((uint)y >= (uint)h) Zero(dst, run);
                else if (w.Stride == 1)
                {
                    // zeros left of the image, one run inside it, zeros right of it
                    float* row = plane + (long)y * wd;
                    int x0 = ox + j - w.Padding, lo = Math.Clamp(-x0, 0, run), hi = Math.Clamp(wd - x0, lo, run);
                    if (masks == 16) Masked(row + x0, lo, hi, run, dst);
                    else if (masks == 8) Masked8(row + x0, lo, hi, run, dst);
                    else
                    {
                        Zero(dst, lo);
                        Copy(row + x0 + lo, dst + lo, hi - lo);
                        Zero(dst + hi, run - hi);
                    }
                }
                else
                {
                    float* row = plane + (long)y * wd;
                    for (int t = 0; t < run; t++)
                    {
                        int xx = (ox + t) * w.Stride + j - w.Padding;
                        dst[t] = (uint)xx < (uint)wd ? row[xx] : 0f;
                    }
                }
                dst += run;
            }
        }

        internal static readonly Vector512<float> Lanes = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        internal static readonly Vector256<float> Lanes8 = Vector256.Create(0f, 1, 2, 3, 4, 5, 6, 7);

        /// <summary>
        /// dst[t] = src[t] for lo ≤ t &lt; hi, 0 for the rest of [0, run): sixteen at a time by masked
        /// loads and stores, which neither read outside [lo, hi) (no fault on a lane masked off)
        /// nor write past run.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Masked(float* src, int lo, int hi, int run, float* dst)
        {
            for (int t = 0; t < run; t += 16)
            {
                var lane = Lanes + Vector512.Create((float)t);
                var read = Vector512.GreaterThanOrEqual(lane, Vector512.Create((float)lo)) & Vector512.LessThan(lane, Vector512.Create((float)hi));
                var v = Avx512F.MaskLoad(src + t, read, Vector512<float>.Zero);
                if (t + 16 <= run) v.Store(dst + t);
                else Avx512F.MaskStore(dst + t, Vector512.LessThan(lane, Vector512.Create((float)run)), v);
            }
        }

        /// <summary><see cref="Masked"/> eight at a time with AVX masked loads and stores.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Masked8(float* src, int lo, int hi, int run, float* dst)
        {
            for (int t = 0; t < run; t += 8)
            {
                var lane = Lanes8 + Vector256.Create((float)t);
                var read = Vector256.GreaterThanOrEqual(lane, Vector256.Create((float)lo)) & Vector256.LessThan(lane, Vector256.Create((float)hi));
                var v = Avx.MaskLoad(src + t, read);
                if (t + 8 <= run) v.Store(dst + t);
                else Avx.MaskStore(dst + t, Vector256.LessThan(lane, Vector256.Create((float)run)), v);
            }
        }

        static void Zero(float* d, int n)
        {
            for (int t = 0; t < n; t++) d[t] = 0;
        }

        /// <summary>A short run (a window row: 32 floats at 32×32), without a MemoryCopy call's fixed cost.</summary>
        static void Copy(float* s, float* d, int n)
        {
            if (n < 8)
            {
                for (int u = 0; u < n; u++) d[u] = s[u];
                return;
            }
            int t = 0;
            for (; t + 8 <= n; t += 8) Vector256.Store(Vector256.Load(s + t), d + t);
            // the tail as one more vector ending at n, overlapping what is already copied
            if (t < n) Vector256.Store(Vector256.Load(s + n - 8), d + n - 8);
        }
    }

    // the transpose: dx[ch, y, x] += cols[...] for every window entry that reads it
    static void Col2imAdd(float[] cols, int c, int h, int wd, Window w, float[] dx, int off)
    {
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow;
        int width = masks;
        if (width > 0 && w.Stride == 1 && w.Kw <= 64)
        {
            Col2imAddMasked(cols, c, h, wd, w, dx, off, width);
            return;
        }
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < w.Kh; i++)
                for (int j = 0; j < w.Kw; j++)
                {
                    int src = ((ch * w.Kh + i) * w.Kw + j) * l;
                    for (int oy = 0; oy < oh; oy++, src += ow)
                    {
                        int y = oy * w.Stride + i - w.Padding;
                        if (y < 0 || y >= h) continue;
                        int row = off + (ch * h + y) * wd;
                        if (w.Stride == 1)
                        {
                            int lo = Math.Clamp(w.Padding - j, 0, ow), hi = Math.Clamp(wd + w.Padding - j, lo, ow);
                            AddRun(cols, src + lo, dx, row + lo + j - w.Padding, hi - lo);
                            continue;
                        }
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int xx = ox * w.Stride + j - w.Padding;
                            if (xx >= 0 && xx < wd) dx[row + xx] += cols[src + ox];
                        }
                    }
                }
    }

    /// <summary>
    /// The stride-1 fold with masked loads, a row of dx at a time: a run of sixteen (AVX-512) or
    /// eight (AVX) of its entries stays in a register while every tap (i, j) adds its window
    /// row, loaded shifted by j so that lane t reads the column that lands on x = x0 + t (the
    /// lanes outside the window row masked off, so neither read nor faulted), then is stored
    /// once. Folding tap by tap instead added each 8-float run into dx in memory, and the next
    /// tap's run, one float over, read it back before the masked store could be forwarded: 12 µs
    /// an image of LeNet's second layer. The same additions in the same order (i, then j) on
    /// each entry, so the same sums.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Col2imAddMasked(float[] cols, int c, int h, int wd, Window w, float[] dx, int off, int width)
    {
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow;
        if (off < 0 || (long)off + (long)c * h * wd > dx.Length || (long)c * w.Kh * w.Kw * l > cols.Length)
            throw new IndexOutOfRangeException("conv2d_input_grad: columns or image shorter than their shapes");
        if (c == 0 || l == 0 || wd == 0) return;
        int kw = w.Kw, p = w.Padding;
        // the lanes tap column j adds to in the chunk at x0: 0 ≤ x0 + t − j + p < ow and x0 + t < wd
        // (kw ≤ 64, so at most 4 KB of masks whatever the row's width)
        var taps = stackalloc Vector512<float>[kw];
        var lanes = width == 16 ? ImageColumns.Lanes : ImageColumns.Lanes8.ToVector512();
        fixed (float* pc = cols, pd = dx)
            for (int x0 = 0; x0 < wd; x0 += width)
            {
                int end = Math.Min(width, wd - x0);
                var rowEnd = Vector512.LessThan(lanes, Vector512.Create((float)end));
                for (int j = 0; j < kw; j++)
                {
                    int lo = Math.Max(0, j - p - x0), hi = Math.Min(end, ow + j - p - x0);
                    taps[j] = Vector512.GreaterThanOrEqual(lanes, Vector512.Create((float)lo)) & Vector512.LessThan(lanes, Vector512.Create((float)hi));
                }
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < h; y++)
                    {
                        float* d = pd + off + (long)(ch * h + y) * wd + x0;
                        if (width == 16)
                        {
                            var acc = Avx512F.MaskLoad(d, rowEnd, Vector512<float>.Zero);
                            for (int i = 0; i < w.Kh; i++)
                            {
                                int oy = y - i + p;
                                if ((uint)oy >= (uint)oh) continue;
                                // lane t of tap j reads column ox = x0 + t − j + p of output row oy
                                float* src = pc + (long)(ch * w.Kh + i) * kw * l + oy * ow + x0 + p;
                                for (int j = 0; j < kw; j++, src += l - 1)
                                    acc += Avx512F.MaskLoad(src, taps[j], Vector512<float>.Zero);
                            }
                            Avx512F.MaskStore(d, rowEnd, acc);
                        }
                        else
                        {
                            var last = rowEnd.GetLower();
                            var acc = Avx.MaskLoad(d, last);
                            for (int i = 0; i < w.Kh; i++)
                            {
                                int oy = y - i + p;
                                if ((uint)oy >= (uint)oh) continue;
                                float* src = pc + (long)(ch * w.Kh + i) * kw * l + oy * ow + x0 + p;
                                for (int j = 0; j < kw; j++, src += l - 1)
                                    acc += Avx.MaskLoad(src, taps[j].GetLower());
                            }
                            Avx.MaskStore(d, last, acc);
                        }
                    }
            }
    }

    /// <summary>
    /// d[to .. to + n] += s[at .. at + n]. A window row is short (8 floats in LeNet's second
    /// layer), where TensorPrimitives' fixed cost per call was most of the fold: runs under 32
    /// go one by one.
    /// </summary>
    static void AddRun(float[] s, int at, float[] d, int to, int n)
    {
        if (n <= 0) return;
        var dst = d.AsSpan(to, n);
        if (n >= 32) TensorPrimitives.Add(dst, s.AsSpan(at, n), dst);
        else
        {
            var src = s.AsSpan(at, n);
            for (int t = 0; t < n; t++) dst[t] += src[t];
        }
    }

    /// <summary>y[n] = W [O, C·kh·kw] · columns(x[n]) (+ b): x [N, C, H, W], w [O, C, kh, kw].</summary>
    public Storage Conv2d(Strided x, Strided w, Strided? b, Window win)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], wd = x.Shape[3], o = w.Shape[0];
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var (xs, xo) = Walk.Segment<float>(x);
        var (ws, wo) = Walk.Segment<float>(w);
        float[]? bias = b is { } bb ? Walk.Span<float>(bb).ToArray() : null;
        int width = masks;
        if (Direct(win, o, width)) return DirectConv2d(xs, xo, ws, wo, bias, n, c, h, wd, o, win);
        if (Winograd(win, c, o, width)) return new CpuStorage<float>(WinogradConv(xs, xo, n, c, h, wd, ws, wo, flipped: false, o, bias, win.Padding, width));
        var y = Buffers.Uninitialized<float>(n * o * l);
        if (y.Length == 0) return new CpuStorage<float>(y);
        PerImage(n, (long)o * l * kk, (img, serial) =>
        {
            int at = img * o * l;
            if (bias is not null)
                for (int r = 0; r < o; r++) Array.Fill(y, bias[r], at + r * l, l);
            var cols = new ImageColumns(xs, xo + img * c * h * wd, c, h, wd, win, transposed: false);
            Sgemm.Multiply(new(ws, wo, kk, 1), cols, y, at, o, l, kk, accumulate: bias is not null, serial: serial);
        });
        return new CpuStorage<float>(y);
    }

    /// <summary>dx[n] = columns⁻¹(Wᵀ · g[n]): the transposed convolution back to [N, C, H, W].</summary>
    public Storage Conv2dInputGrad(Strided g, Strided w, int[] inputShape, Window win)
    {
        int n = inputShape[0], c = inputShape[1], h = inputShape[2], wd = inputShape[3], o = w.Shape[0];
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var (gs, go) = Walk.Segment<float>(g);
        var (ws, wo) = Walk.Segment<float>(w);
        // dx = g ⋆ (w rotated 180°, channels swapped) at padding 2 − p: a convolution of its own
        int width = masks;
        if (Winograd(win, o, c, width))
            return new CpuStorage<float>(WinogradConv(gs, go, n, o, win.OutH(h), win.OutW(wd), ws, wo, flipped: true, c, null, 2 - win.Padding, width));
        var dx = Buffers.Zeroed<float>(n * c * h * wd);
        if (dx.Length == 0 || l == 0) return new CpuStorage<float>(dx);
        PerImage(n, (long)o * l * kk, (img, serial) =>
        {
            var cols = Columns(kk * l);
            // Wᵀ read in place: element (i, p) of the [kk, o] matrix is w[p·kk + i]
            Sgemm.Multiply(new(ws, wo, 1, kk), new(gs, go + img * o * l, l, 1), cols, 0, kk, l, o, serial: serial);
            Col2imAdd(cols, c, h, wd, win, dx, img * c * h * wd);
        });
        return new CpuStorage<float>(dx);
    }
}
