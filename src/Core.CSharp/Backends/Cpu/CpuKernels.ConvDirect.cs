using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// Direct convolution for a layer with few output channels (LeNet's first, 1 → 6), stride 1,
/// on AVX-512 machines. As a GEMM its A has fewer rows than one strip of the micro-kernel, so
/// packing the columns costs more than the products that read them (27 GFLOP/s at 1 → 6 on
/// 28×28). Here the input is read in place: for each run of 16 outputs, the eight channels'
/// sums stay in registers and each window tap is one masked load of an input row (zeros where
/// the window leaves the image) feeding eight FMAs. The weight gradient does the same with the
/// output gradient's rows, one window tap at a time.
/// </summary>
internal sealed partial class CpuKernels
{
    const int DirectChannels = 8;

    /// <summary>
    /// The widest masked loads the convolution kernels use: 16 lanes (AVX-512: direct kernels,
    /// Winograd, masked packing of 32-column strips, the weight gradient's patches, and folding),
    /// 8 (AVX: packing of 16-column strips, the narrow GEMM's, folding, and with AVX2 Winograd's
    /// 8-tile transforms), or 0 (element
    /// loops). Not readonly, so the tests can run every width a machine has; all give the same
    /// values up to rounding, and each kernel call reads it once where the paths differ in their
    /// sums (direct, Winograd or GEMM).
    /// </summary>
    static int masks = Avx512F.IsSupported ? 16 : Avx.IsSupported ? 8 : 0;

    static readonly Vector512<float> Lanes16 = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    /// <summary>Whether conv2d of these output channels runs directly (else as implicit GEMM).</summary>
    static bool Direct(Window w, int outChannels, int width) => width == 16 && w.Stride == 1 && outChannels >= 1 && outChannels <= DirectChannels && w.Kw <= 64;

    /// <summary>Lanes t of a run of 16 outputs at ox0 whose tap at column offset x0 − ox0 lies inside a row of wd (and t &lt; lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Inside(int x0, int wd, int lanes) =>
        Vector512.GreaterThanOrEqual(Lanes16, Vector512.Create((float)-x0)) & Vector512.LessThan(Lanes16, Vector512.Create((float)Math.Min(wd - x0, lanes)));

    /// <summary>
    /// One image: y [o, oh·ow] from x [c, h, wd] and the weights laid out eight to a tap
    /// (taps [c·kh·kw], channels o ≤ 8, missing channels zero), plus the bias (eight, zero-padded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void DirectForward(float* x, int c, int h, int wd, Window win, float* w8, float* bias8, int o, float* y)
    {
        int oh = win.OutH(h), ow = win.OutW(wd), l = oh * ow, kh = win.Kh, kw = win.Kw, pad = win.Padding;
        var masks = stackalloc Vector512<float>[kw];
        for (int ox0 = 0; ox0 < ow; ox0 += 16)
        {
            int lanes = Math.Min(16, ow - ox0);
            for (int j = 0; j < kw; j++) masks[j] = Inside(ox0 + j - pad, wd, lanes);
            var keep = Vector512.LessThan(Lanes16, Vector512.Create((float)lanes));
            for (int oy = 0; oy < oh; oy++)
            {
                Vector512<float> a0 = Vector512.Create(bias8[0]), a1 = Vector512.Create(bias8[1]), a2 = Vector512.Create(bias8[2]), a3 = Vector512.Create(bias8[3]);
                Vector512<float> a4 = Vector512.Create(bias8[4]), a5 = Vector512.Create(bias8[5]), a6 = Vector512.Create(bias8[6]), a7 = Vector512.Create(bias8[7]);
                float* wp = w8;
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < kh; i++)
                    {
                        int yy = oy + i - pad;
                        if ((uint)yy >= (uint)h) { wp += kw * DirectChannels; continue; }
                        // a lane masked off is neither read nor faulted: the pointer may start left of the row
                        float* row = x + ((long)ch * h + yy) * wd + ox0 - pad;
                        for (int j = 0; j < kw; j++, wp += DirectChannels)
                        {
                            var v = Avx512F.MaskLoad(row + j, masks[j], Vector512<float>.Zero);
                            a0 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[0]), v, a0);
                            a1 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[1]), v, a1);
                            a2 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[2]), v, a2);
                            a3 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[3]), v, a3);
                            a4 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[4]), v, a4);
                            a5 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[5]), v, a5);
                            a6 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[6]), v, a6);
                            a7 = Vector512.FusedMultiplyAdd(Vector512.Create(wp[7]), v, a7);
                        }
                    }
                float* at = y + oy * ow + ox0;
                Put(at, a0, keep, lanes);
                if (o > 1) Put(at + l, a1, keep, lanes);
                if (o > 2) Put(at + 2L * l, a2, keep, lanes);
                if (o > 3) Put(at + 3L * l, a3, keep, lanes);
                if (o > 4) Put(at + 4L * l, a4, keep, lanes);
                if (o > 5) Put(at + 5L * l, a5, keep, lanes);
                if (o > 6) Put(at + 6L * l, a6, keep, lanes);
                if (o > 7) Put(at + 7L * l, a7, keep, lanes);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static unsafe void Put(float* at, Vector512<float> v, Vector512<float> keep, int lanes)
    {
        if (lanes == 16) v.Store(at);
        else Avx512F.MaskStore(at, keep, v);
    }

    /// <summary>
    /// One image's share of the weight gradient, added into dw [o, c·kh·kw]: for each tap, the
    /// eight channels' dot products of g [o, oh·ow] with the tap's shifted input, in registers.
    /// Channels past o read channel o − 1 (valid memory) and are dropped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void DirectWeightGrad(float* g, float* x, int c, int h, int wd, Window win, int o, float* dw)
    {
        int oh = win.OutH(h), ow = win.OutW(wd), l = oh * ow, kh = win.Kh, kw = win.Kw, pad = win.Padding, kk = c * kh * kw;
        long s1 = Math.Min(1, o - 1) * (long)l, s2 = Math.Min(2, o - 1) * (long)l, s3 = Math.Min(3, o - 1) * (long)l;
        long s4 = Math.Min(4, o - 1) * (long)l, s5 = Math.Min(5, o - 1) * (long)l, s6 = Math.Min(6, o - 1) * (long)l, s7 = Math.Min(7, o - 1) * (long)l;
        var sums = stackalloc float[DirectChannels];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                {
                    Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                    for (int ox0 = 0; ox0 < ow; ox0 += 16)
                    {
                        int lanes = Math.Min(16, ow - ox0);
                        var inside = Inside(ox0 + j - pad, wd, lanes);
                        var keep = Vector512.LessThan(Lanes16, Vector512.Create((float)lanes));
                        for (int oy = 0; oy < oh; oy++)
                        {
                            int yy = oy + i - pad;
                            if ((uint)yy >= (uint)h) continue;
                            var v = Avx512F.MaskLoad(x + ((long)ch * h + yy) * wd + ox0 + j - pad, inside, Vector512<float>.Zero);
                            float* gp = g + oy * ow + ox0;
                            // g's lanes past the run are masked too: v is zero there, but g·0 is NaN for an infinite g
                            a0 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp, keep, Vector512<float>.Zero), v, a0);
                            a1 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s1, keep, Vector512<float>.Zero), v, a1);
                            a2 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s2, keep, Vector512<float>.Zero), v, a2);
                            a3 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s3, keep, Vector512<float>.Zero), v, a3);
                            a4 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s4, keep, Vector512<float>.Zero), v, a4);
                            a5 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s5, keep, Vector512<float>.Zero), v, a5);
                            a6 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s6, keep, Vector512<float>.Zero), v, a6);
                            a7 = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(gp + s7, keep, Vector512<float>.Zero), v, a7);
                        }
                    }
                    sums[0] = Vector512.Sum(a0); sums[1] = Vector512.Sum(a1); sums[2] = Vector512.Sum(a2); sums[3] = Vector512.Sum(a3);
                    sums[4] = Vector512.Sum(a4); sums[5] = Vector512.Sum(a5); sums[6] = Vector512.Sum(a6); sums[7] = Vector512.Sum(a7);
                    int tap = (ch * kh + i) * kw + j;
                    for (int q = 0; q < o; q++) dw[(long)q * kk + tap] += sums[q];
                }
    }

    /// <summary>conv2d's forward for few output channels (<see cref="Direct"/>), images over the cores.</summary>
    unsafe Storage DirectConv2d(float[] xs, int xo, float[] ws, int wo, float[]? bias, int n, int c, int h, int wd, int o, Window win)
    {
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var y = Buffers.Uninitialized<float>(n * o * l);
        if (y.Length == 0 || l == 0) return new CpuStorage<float>(y);
        if ((long)xo + (long)n * c * h * wd > xs.Length || (long)wo + (long)o * kk > ws.Length) throw new IndexOutOfRangeException("conv2d: input or weight shorter than its shape");
        // the weights eight to a tap, missing channels zero
        var w8 = new float[kk * DirectChannels];
        for (int q = 0; q < o; q++)
            for (int t = 0; t < kk; t++) w8[t * DirectChannels + q] = ws[wo + q * kk + t];
        var b8 = new float[DirectChannels];
        if (bias is not null) Array.Copy(bias, b8, o);
        PerImage(n, (long)o * l * kk, (img, _) =>
        {
            fixed (float* px = xs, pw = w8, pb = b8, py = y)
                DirectForward(px + xo + (long)img * c * h * wd, c, h, wd, win, pw, pb, o, py + (long)img * o * l);
        });
        return new CpuStorage<float>(y);
    }

    /// <summary>conv2d's weight gradient for few output channels: each core sums its run of images into its own partial.</summary>
    unsafe Storage DirectConv2dWeightGrad(float[] gs, int go, float[] xs, int xo, int n, int c, int h, int wd, int o, Window win)
    {
        int kk = c * win.Kh * win.Kw, l = win.OutH(h) * win.OutW(wd);
        var dw = Buffers.Zeroed<float>(o * kk);
        if (dw.Length == 0 || n == 0 || l == 0) return new CpuStorage<float>(dw);
        if ((long)xo + (long)n * c * h * wd > xs.Length || (long)go + (long)n * o * l > gs.Length) throw new IndexOutOfRangeException("conv2d_weight_grad: input or gradient shorter than its shape");
        SumOverImages(n, (long)n * o * l * kk, dw, (first, end, _, acc) =>
        {
            fixed (float* pg = gs, px = xs, pa = acc)
                for (int img = first; img < end; img++)
                    DirectWeightGrad(pg + go + (long)img * o * l, px + xo + (long)img * c * h * wd, c, h, wd, win, o, pa);
        });
        return new CpuStorage<float>(dw);
    }
}
