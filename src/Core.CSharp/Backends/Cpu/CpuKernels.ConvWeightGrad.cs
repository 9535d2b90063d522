using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// conv2d's weight gradient dW = Σₙ g[n] · columns(x[n])ᵀ in float32: directly for few output
/// channels (<see cref="DirectConv2dWeightGrad"/>), by Winograd for 3×3 layers at stride 1
/// (<see cref="WinogradWeightGrad"/>), else as GEMMs whose operand is the columns: blocks of
/// them read in place as A from 32 output channels, below that each image's transposed
/// columns written out (AVX-512) or packed straight into B's panels.
/// </summary>
internal sealed partial class CpuKernels
{
    /// <summary>
    /// dW = Σₙ g[n] [O, L] · columns(x[n])ᵀ: each core sums its own run of images into its own
    /// [O, C·kh·kw] partial, and the partials are added in core order (fixed, so repeatable).
    /// </summary>
    public Storage Conv2dWeightGrad(Strided g, Strided x, int[] weightShape, Window win)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], wd = x.Shape[3], o = weightShape[0];
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var (gs, go) = Walk.Segment<float>(g);
        var (xs, xo) = Walk.Segment<float>(x);
        int width = masks;
        if (Direct(win, o, width)) return DirectConv2dWeightGrad(gs, go, xs, xo, n, c, h, wd, o, win);
        if (Winograd(win, c, o, width)) return new CpuStorage<float>(WinogradWeightGrad(gs, go, xs, xo, n, c, h, wd, o, win.Padding, width));
        // with 32 output channels or more gᵀ fills the micro-kernel's strips of 32; LeNet's 6→16
        // layer (150 × 16 by 64) ran 1.45 ms this way against 1.08 ms with the columns transposed
        if (o >= 32) return BlockedWeightGrad(gs, go, xs, xo, n, c, h, wd, o, win);
        var dw = Buffers.Zeroed<float>(o * kk);
        if (dw.Length == 0 || n == 0 || l == 0) return new CpuStorage<float>(dw);
        bool patches = width == 16 && win.Kw <= 16;
        SumOverImages(n, (long)n * o * l * kk, dw, (first, end, serial, acc) =>
        {
            for (int img = first; img < end; img++)
            {
                if (patches)
                {
                    // columns(x)ᵀ [L, C·kh·kw] written out row by row, then read as a plain B
                    var t = Columns(l * kk + 16);
                    Patches(xs, xo + img * c * h * wd, c, h, wd, win, t);
                    Sgemm.Multiply(new(gs, go + img * o * l, l, 1), new Sgemm.View(t, 0, kk, 1), acc, 0, o, kk, l, accumulate: true, serial: serial);
                    continue;
                }
                var colsT = new ImageColumns(xs, xo + img * c * h * wd, c, h, wd, win, transposed: true);
                Sgemm.Multiply(new(gs, go + img * o * l, l, 1), colsT, acc, 0, o, kk, l, accumulate: true, serial: serial);
            }
        });
        return new CpuStorage<float>(dw);
    }

    /// <summary>
    /// The transposed columns of one image, [L, C·kh·kw] row-major into t (16 floats of slack at
    /// the end): row l is the patch the window covers at output position l, and each window row
    /// of it (kw ≤ 16 floats, contiguous in the image at any stride) is one masked load (zeros
    /// where the window leaves the image, which is neither read nor faulted) and one 16-float
    /// store, the next store overwriting the zeros past kw. Packing B from the image directly
    /// (each row of a strip gathered in a scratch block, then transposed 8×8) took about 15 µs an
    /// image of LeNet's second layer (6 → 16 channels, 5×5 over 12×12) in a profile of the
    /// batch-256 step, 14% of it; this way the step runs 13% faster.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void Patches(float[] x, int off, int c, int h, int wd, Window w, float[] t)
    {
        int oh = w.OutH(h), ow = w.OutW(wd), kw = w.Kw, kk = c * w.Kh * kw;
        if (off < 0 || (long)off + (long)c * h * wd > x.Length || (long)oh * ow * kk + 16 > t.Length)
            throw new IndexOutOfRangeException("conv2d_weight_grad: image or patch buffer shorter than their shapes");
        fixed (float* px = x, pt = t)
        {
            float* dst = pt, image = px + off;
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    int x0 = ox * w.Stride - w.Padding, y0 = oy * w.Stride - w.Padding;
                    // window columns j inside the image: 0 ≤ x0 + j < wd
                    var inside = Inside(x0, wd, kw);
                    for (int ch = 0; ch < c; ch++)
                    {
                        float* plane = image + (long)ch * h * wd + x0;
                        for (int i = 0; i < w.Kh; i++, dst += kw)
                        {
                            int y = y0 + i;
                            var row = (uint)y < (uint)h ? Avx512F.MaskLoad(plane + (long)y * wd, inside, Vector512<float>.Zero) : Vector512<float>.Zero;
                            row.Store(dst);
                        }
                    }
                }
        }
    }

    /// <summary>
    /// dWᵀ [C·kh·kw, O] = Σₙ columns(x[n]) · g[n]ᵀ, the columns a block of 256 output positions at
    /// a time into a per-thread buffer that the product reads in place (its A, 576 rows for a
    /// 64-channel 3×3 layer: the micro-kernel's full strips), g's block packed as its B; the
    /// sum is transposed into dW at the end. No transposed packing of the columns.
    /// </summary>
    unsafe Storage BlockedWeightGrad(float[] gs, int go, float[] xs, int xo, int n, int c, int h, int wd, int o, Window win)
    {
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var dw = Buffers.Zeroed<float>(o * kk);
        if (dw.Length == 0 || n == 0 || l == 0) return new CpuStorage<float>(dw);
        var sum = Buffers.Zeroed<float>(kk * o);
        const int block = 256;
        int blocks = (l + block - 1) / block, step = (l + blocks - 1) / blocks;
        SumOverImages(n, (long)n * o * l * kk, sum, (first, end, serial, acc) =>
        {
            var cols = Columns(kk * step);
            for (int img = first; img < end; img++)
            {
                var image = new ImageColumns(xs, xo + img * c * h * wd, c, h, wd, win, transposed: false);
                for (int l0 = 0; l0 < l; l0 += step)
                {
                    int len = Math.Min(step, l - l0);
                    fixed (float* pc = cols) image.Block(l0, len, pc);
                    // gᵀ's block read through its strides: element (p, q) is g[q·l + l0 + p]
                    Sgemm.Multiply(new(cols, 0, len, 1), new(gs, go + img * o * l + l0, 1, l), acc, 0, kk, o, len, accumulate: true, serial: serial);
                }
            }
        });
        for (int q = 0; q < o; q++)
            for (int r = 0; r < kk; r++) dw[q * kk + r] = sum[r * o + q];
        if (sum.Length >= Buffers.MinPooled) Buffers.Return(sum);
        return new CpuStorage<float>(dw);
    }

    /// <summary>
    /// Σ over n images into <paramref name="into"/>: each core adds its own run of images
    /// [first, end) into its own partial (the first core into <paramref name="into"/>; serial
    /// when several cores share the images), and the partials are added in core order (fixed,
    /// so repeatable). The other cores' partials come from the pool, taken on the calling thread
    /// (a worker has no scope), and go back after the sum.
    /// </summary>
    static void SumOverImages(int n, long work, float[] into, Action<int, int, bool, float[]> run)
    {
        int cores = n >= 2 && work >= 1 << 16 ? Math.Min(Team.Size, n) : 1;
        var partials = new float[cores][];
        for (int t = 0; t < cores; t++) partials[t] = t == 0 ? into : Buffers.Zeroed<float>(into.Length);
        int share = (n + cores - 1) / cores;
        Team.For(cores, t => run(t * share, Math.Min(n, (t + 1) * share), cores > 1, partials[t]));
        for (int t = 1; t < cores; t++)
        {
            TensorPrimitives.Add(into, partials[t], into);
            if (partials[t].Length >= Buffers.MinPooled) Buffers.Return(partials[t]);
        }
    }
}
