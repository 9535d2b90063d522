using System.Numerics.Tensors;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Convolution in float32 without the batch's column matrix: each image's columns go into a
/// per-thread scratch buffer and straight into the packed GEMM, images shared over the cores.
/// The three kernels are conv2d and its two pullbacks (input and weight), so a training step
/// never materialises [N, C·kh·kw, oh·ow], never copies a transposed weight, and never builds
/// the per-image weight gradients [N, O, C·kh·kw] to sum.
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

    // cols[(ch·kh + i)·kw + j, oy·ow + ox] = x[ch, oy·s + i − p, ox·s + j − p], 0 outside
    static void Im2col(float[] src, int off, int c, int h, int wd, Window w, float[] cols)
    {
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow;
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < w.Kh; i++)
                for (int j = 0; j < w.Kw; j++)
                {
                    int dst = ((ch * w.Kh + i) * w.Kw + j) * l;
                    for (int oy = 0; oy < oh; oy++, dst += ow)
                    {
                        int y = oy * w.Stride + i - w.Padding;
                        if (y < 0 || y >= h) { Array.Clear(cols, dst, ow); continue; }
                        int row = off + (ch * h + y) * wd;
                        if (w.Stride == 1)
                        {
                            // columns lo..hi read inside the row: zeros to the left, one run, zeros to the right
                            int lo = Math.Clamp(w.Padding - j, 0, ow), hi = Math.Clamp(wd + w.Padding - j, lo, ow);
                            if (lo > 0) Array.Clear(cols, dst, lo);
                            Copy(src, row + lo + j - w.Padding, cols, dst + lo, hi - lo);
                            if (hi < ow) Array.Clear(cols, dst + hi, ow - hi);
                            continue;
                        }
                        for (int ox = 0; ox < ow; ox++)
                        {
                            int xx = ox * w.Stride + j - w.Padding;
                            cols[dst + ox] = xx >= 0 && xx < wd ? src[row + xx] : 0f;
                        }
                    }
                }
    }

    /// <summary>A short run of floats (a window row: 24 in LeNet's first layer), without Array.Copy's fixed cost.</summary>
    static unsafe void Copy(float[] src, int at, float[] dst, int to, int n)
    {
        if (n == 0) return;
        if (at < 0 || to < 0 || n < 0 || (long)at + n > src.Length || (long)to + n > dst.Length) throw new IndexOutOfRangeException();
        fixed (float* ps = &src[0], pd = &dst[0])
        {
            float* s = ps + at, d = pd + to;
            int i = 0;
            for (; i + 8 <= n; i += 8) System.Runtime.Intrinsics.Vector256.Store(System.Runtime.Intrinsics.Vector256.Load(s + i), d + i);
            for (; i < n; i++) d[i] = s[i];
        }
    }

    // the transpose: dx[ch, y, x] += cols[...] for every window entry that reads it
    static void Col2imAdd(float[] cols, int c, int h, int wd, Window w, float[] dx, int off)
    {
        int oh = w.OutH(h), ow = w.OutW(wd), l = oh * ow;
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
                            var d = dx.AsSpan(row + lo + j - w.Padding, hi - lo);
                            TensorPrimitives.Add(d, cols.AsSpan(src + lo, hi - lo), d);
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

    /// <summary>y[n] = W [O, C·kh·kw] · columns(x[n]) (+ b): x [N, C, H, W], w [O, C, kh, kw].</summary>
    public Storage Conv2d(Strided x, Strided w, Strided? b, Window win)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], wd = x.Shape[3], o = w.Shape[0];
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var y = Buffers.Uninitialized<float>(n * o * l);
        if (y.Length == 0) return new CpuStorage<float>(y);
        var (xs, xo) = Walk.Segment<float>(x);
        var (ws, wo) = Walk.Segment<float>(w);
        float[]? bias = b is { } bb ? Walk.Span<float>(bb).ToArray() : null;
        PerImage(n, (long)o * l * kk, (img, serial) =>
        {
            int at = img * o * l;
            if (bias is not null)
                for (int r = 0; r < o; r++) Array.Fill(y, bias[r], at + r * l, l);
            var cols = Columns(kk * l);
            Im2col(xs, xo + img * c * h * wd, c, h, wd, win, cols);
            Sgemm.Multiply(new(ws, wo, kk, 1), new(cols, 0, l, 1), y, at, o, l, kk, accumulate: bias is not null, serial: serial);
        });
        return new CpuStorage<float>(y);
    }

    /// <summary>dx[n] = columns⁻¹(Wᵀ · g[n]): the transposed convolution back to [N, C, H, W].</summary>
    public Storage Conv2dInputGrad(Strided g, Strided w, int[] inputShape, Window win)
    {
        int n = inputShape[0], c = inputShape[1], h = inputShape[2], wd = inputShape[3], o = w.Shape[0];
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var dx = Buffers.Zeroed<float>(n * c * h * wd);
        if (dx.Length == 0 || l == 0) return new CpuStorage<float>(dx);
        var (gs, go) = Walk.Segment<float>(g);
        var (ws, wo) = Walk.Segment<float>(w);
        PerImage(n, (long)o * l * kk, (img, serial) =>
        {
            var cols = Columns(kk * l);
            // Wᵀ read in place: element (i, p) of the [kk, o] matrix is w[p·kk + i]
            Sgemm.Multiply(new(ws, wo, 1, kk), new(gs, go + img * o * l, l, 1), cols, 0, kk, l, o, serial: serial);
            Col2imAdd(cols, c, h, wd, win, dx, img * c * h * wd);
        });
        return new CpuStorage<float>(dx);
    }

    /// <summary>
    /// dW = Σₙ g[n] [O, L] · columns(x[n])ᵀ: each core sums its own run of images into its own
    /// [O, C·kh·kw] partial, and the partials are added in core order (fixed, so repeatable).
    /// </summary>
    public Storage Conv2dWeightGrad(Strided g, Strided x, int[] weightShape, Window win)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], wd = x.Shape[3], o = weightShape[0];
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var dw = Buffers.Zeroed<float>(o * kk);
        if (dw.Length == 0 || n == 0 || l == 0) return new CpuStorage<float>(dw);
        var (gs, go) = Walk.Segment<float>(g);
        var (xs, xo) = Walk.Segment<float>(x);
        int cores = n >= 2 && (long)n * o * l * kk >= 1 << 16 ? Math.Min(Team.Size, n) : 1;
        var partials = new float[cores][];
        int share = (n + cores - 1) / cores;
        Team.For(cores, t =>
        {
            var acc = t == 0 ? dw : new float[o * kk];
            var cols = Columns(kk * l);
            for (int img = t * share; img < Math.Min(n, (t + 1) * share); img++)
            {
                Im2col(xs, xo + img * c * h * wd, c, h, wd, win, cols);
                // columnsᵀ read in place: element (p, q) of the [l, kk] matrix is cols[q·l + p]
                Sgemm.Multiply(new(gs, go + img * o * l, l, 1), new(cols, 0, 1, l), acc, 0, o, kk, l, accumulate: true, serial: cores > 1);
            }
            partials[t] = acc;
        });
        for (int t = 1; t < cores; t++) TensorPrimitives.Add(dw, partials[t], dw);
        return new CpuStorage<float>(dw);
    }
}
