using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cotangent.Backends.Cpu;

/// <summary>
/// fp32 matrix product C += A·B in the BLIS style: B is packed into KC×NR column strips, and
/// a register-blocked MR×NR micro-kernel runs FMAs over them (12×32 with Vector512, 6×16 with
/// Vector256; shorter and narrower variants for edge strips, unrolled by hand because a call or
/// loop inside a kernel makes the JIT spill its accumulators). A is read in place through its
/// strides, or packed into MR-row strips for wide products (<see cref="PackWholeBlock"/>).
/// Transposed operands (the VJPs' Aᵀ and Bᵀ) are read or packed through strides, never materialised.
/// The cores split the columns of C (or its rows, when it is narrow), each running the whole
/// blocked loop on its share.
/// </summary>
[SkipLocalsInit]
internal static unsafe class Sgemm
{
    const int MR = 12, KC = 256, NC = 4096;

    /// <summary>
    /// The height of a strip of A for a strip width nr: 12 rows with Vector512 (nr = 32; 24 of
    /// the 32 zmm registers hold accumulators), 6 with Vector256 (nr = 16), whose 16 ymm
    /// registers hold 12 accumulators, two vectors of B and a broadcast without spilling.
    /// Derived from nr, which a product reads from <see cref="wide"/> once: a test flips that
    /// field while other threads multiply, and a product must not see both widths.
    /// </summary>
    static int StripHeight(int nr) => nr == 32 ? MR : 6;
    /// <summary>
    /// The Vector512 kernel when the hardware has it, else the Vector256 one. Not readonly, so
    /// the tests can run the narrow kernel on a wide machine (both give the same products).
    /// </summary>
    static bool wide = Vector512.IsHardwareAccelerated;

    /// <summary>A strided read-only matrix: element (i, j) at Data[Offset + i·Rs + j·Cs].</summary>
    public readonly record struct View(float[] Data, int Offset, int Rs, int Cs);

    /// <summary>
    /// C[m×n] (row-major at offC, leading dimension n) = A[m×k]·B[k×n], or with
    /// <paramref name="accumulate"/> C += A·B; without it C may hold garbage on entry. With
    /// <paramref name="serial"/> it runs on the calling thread only (a caller that already
    /// shares many small products over the cores).
    /// </summary>
    public static void Multiply(View a, View b, float[] c, int offC, int m, int n, int k, bool accumulate = false, bool serial = false) =>
        Multiply(a, new StridedB(b), c, offC, m, n, k, accumulate, serial);

    /// <summary>
    /// Where the packed panels of B come from: any k×n matrix that can write its block
    /// [pc, pc + kc) × [jc, jc + nc) in the packed layout (strips of nr columns, nr values per k,
    /// zeros beyond n) without existing as a matrix: a strided view, or a convolution's columns
    /// gathered from the image (<see cref="CpuKernels"/>' implicit GEMM). A struct, so each source
    /// gets its own compiled loop and the call is direct.
    /// </summary>
    public interface IPanels
    {
        void Pack(int pc, int kc, int jc, int nc, int nr, float* dst);
    }

    /// <summary>B read through its strides.</summary>
    readonly struct StridedB(View b) : IPanels
    {
        public void Pack(int pc, int kc, int jc, int nc, int nr, float* dst) => PackB(b, pc, kc, jc, nc, nr, dst);
    }

    /// <summary>C = A·B (or C += A·B) with B's panels packed by <paramref name="b"/>; otherwise as the strided overload.</summary>
    public static void Multiply<TB>(View a, TB b, float[] c, int offC, int m, int n, int k, bool accumulate = false, bool serial = false)
        where TB : struct, IPanels
    {
        if (m == 0 || n == 0) return;
        if (k == 0) { if (!accumulate) for (int i = 0; i < m; i++) Array.Clear(c, offC + i * n, n); return; }
        int nr = wide ? 32 : 16;
        int threads = serial ? 1 : Math.Min(Team.Size, Math.Max(1, (int)((long)m * n * k / (1 << 16))));
        if (threads == 1) { Serial(a, b, c, offC, n, 0, m, 0, n, k, nr, accumulate); return; }
        // Each core takes a share of the columns (its own B panels, no barrier between k blocks),
        // or of the rows when there are too few columns to share.
        if (n >= threads * nr * 2)
        {
            int share = RoundUp((n + threads - 1) / threads, nr);
            Team.For(threads, t =>
            {
                int j0 = t * share, j1 = Math.Min(n, j0 + share);
                if (j0 < j1) Serial(a, b, c, offC, n, 0, m, j0, j1 - j0, k, nr, accumulate);
            });
        }
        else
        {
            int share = RoundUp((m + threads - 1) / threads, StripHeight(nr));
            Team.For(threads, t =>
            {
                int i0 = t * share, i1 = Math.Min(m, i0 + share);
                if (i0 < i1) Serial(a, b, c, offC, n, i0, i1 - i0, 0, n, k, nr, accumulate);
            });
        }
    }

    /// <summary>One core's part: rows [i0, i0 + m) and columns [j0, j0 + n) of C, in NC, KC and MC blocks.</summary>
    static void Serial<TB>(View a, TB b, float[] c, int offC, int ldc, int i0, int m, int j0, int n, int k, int nr, bool accumulate)
        where TB : struct, IPanels
    {
        const int MC = 96;
        int kblocks = (k + KC - 1) / KC, kstep = (k + kblocks - 1) / kblocks;   // even k blocks, no thin tail
        int ncMax = Math.Min(NC, RoundUp(n, nr));
        var scratch = Scratch.ForThisThread;
        float* packedB = scratch.B(ncMax * kstep);
        for (int jc = j0; jc < j0 + n; jc += NC)
        {
            int nc = Math.Min(NC, j0 + n - jc);
            for (int pc = 0; pc < k; pc += kstep)
            {
                int kc = Math.Min(kstep, k - pc);
                b.Pack(pc, kc, jc, nc, nr, packedB);
                for (int ic = i0; ic < i0 + m; ic += MC)
                    Block(a, packedB, scratch, c, offC, ldc, i0 + m, ic, MC, pc, kc, jc, nc, nr, first: pc == 0 && !accumulate);
            }
        }
    }

    /// <summary>
    /// Whether a batch of <paramref name="count"/> products of m×k by k×n is better shared out
    /// whole products to a core (each serial) than one product at a time over all cores: when
    /// there are enough of them and each is small enough that splitting it costs more in
    /// hand-offs than it gains (attention's per-head q·kᵀ and att·v).
    /// </summary>
    public static bool ShareByProduct(int count, int m, int n, int k) =>
        count >= 2 * Team.Size && (long)m * n * k <= 1 << 21;

    static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>
    /// One MC×KC block of A against the packed KC×NC panel of B. Unless the whole block is
    /// packed (<see cref="PackWholeBlock"/>), full MR-row strips of A are read in place through
    /// its strides (row-major, column-major or any other layout: the kernel broadcasts one
    /// element per row and k); only a last partial strip is copied, padded with zeros.
    /// </summary>
    static void Block(View a, float* pb, Scratch scratch, float[] c, int offC, int ldc, int m, int ic, int mcMax, int pc, int kc, int jc, int nc, int nr, bool first)
    {
        int mc = Math.Min(mcMax, m - ic);
        if (mc <= 0) return;
        int mr = StripHeight(nr), rows = (mc + mr - 1) / mr, full = PackWholeBlock(nc, nr) ? 0 : mc / mr;
        float* pPacked = full < rows ? scratch.A((rows - full) * mr * kc + PackASlack) : null;
        if (pPacked is not null) PackA(a, ic + full * mr, mc - full * mr, pc, kc, mr, pPacked);
        fixed (float* pSrc = a.Data, pcBase = c)
        {
            var tile = stackalloc float[MR * 32];
            float* aBlock = pSrc + a.Offset + (long)ic * a.Rs + (long)pc * a.Cs;
            for (int s = 0; s * nr < nc; s++)
            {
                int n0 = s * nr, nw = Math.Min(nr, nc - n0);
                for (int r = 0; r < rows; r++)
                {
                    int m0 = r * mr, mw = Math.Min(mr, mc - m0);
                    float* dst = pcBase + offC + (long)(ic + m0) * ldc + jc + n0;
                    // element (i, p) of the strip at ap[i·rs + p·cs]
                    bool inPlace = r < full;
                    float* ap = inPlace ? aBlock + (long)m0 * a.Rs : pPacked + (long)(r - full) * mr * kc;
                    nint rs = inPlace ? a.Rs : 1, cs = inPlace ? a.Cs : mr;
                    if (nr == 32)
                    {
                        bool whole = mw == MR && nw == 32;
                        // a short last strip (a batch of 64 is 5 strips of 12 and one of 4) runs a kernel of its height
                        if (mw <= 4) Tile32x4(kc, ap, rs, cs, pb + s * nr * kc, tile);
                        else if (mw <= 8) Tile32x8(kc, ap, rs, cs, pb + s * nr * kc, tile);
                        // a narrow last strip of B (a 10-class output layer) needs only its first 16 columns
                        else if (nw <= 16) Tile16Of32(kc, ap, rs, cs, pb + s * nr * kc, tile);
                        else Tile32(kc, ap, rs, cs, pb + s * nr * kc, tile, whole ? dst : null, ldc, first);
                        if (!whole) Accumulate(tile, nr, dst, ldc, mw, nw, first);
                    }
                    else
                    {
                        // a whole 6×16 tile goes straight into C (stored on the first k block, added after)
                        bool whole = mw == 6 && nw == 16;
                        Tile6x16(kc, ap, rs, cs, pb + s * nr * kc, tile, whole ? dst : null, ldc, first);
                        if (!whole) Accumulate(tile, nr, dst, ldc, mw, nw, first);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Whether to copy the whole MC×KC block of A into MR-row strips first: worth it when the
    /// block is read again for many strips of B (wide products), where contiguous strips also
    /// avoid the cache-set conflicts of rows a power-of-two apart. For the short, wide-ish
    /// products of a training step reading A in place was faster (matmul 1024: 10.8 vs 11.3 ms;
    /// 512×784×256: 1.0 ms in place vs 1.2 ms packed). With the 6-row strips of AVX2, packing
    /// from 64 columns was slower too (2048×256×256: 1.29×, 256×256×2048 with Aᵀ: 1.22× the time).
    /// </summary>
    static bool PackWholeBlock(int nc, int nr) => nc >= 16 * nr;

    /// <summary>B[pc.., jc..] into strips of nr columns: for each k, nr consecutive values (zero beyond n).</summary>
    static void PackB(View b, int pc, int kc, int jc, int nc, int nr, float* pd)
    {
        fixed (float* src = b.Data)
            for (int s = 0; s * nr < nc; s++)
            {
                int n0 = jc + s * nr, nw = Math.Min(nr, jc + nc - n0);
                float* o = pd + s * nr * kc;
                if (b.Cs != 1 && b.Rs == 1)
                {
                    // column-major B (a transposed view, x·wᵀ): each column is contiguous along k;
                    // 8×8 blocks are transposed in registers, the edges copied one by one
                    float* first = src + b.Offset + (long)pc + (long)n0 * b.Cs;
                    int j8 = Avx.IsSupported ? nw / 8 * 8 : 0, p8 = kc / 8 * 8;
                    for (int j = 0; j < j8; j += 8)
                        for (int p = 0; p < p8; p += 8)
                            Transpose8(first + (long)j * b.Cs + p, b.Cs, o + (long)p * nr + j, nr);
                    for (int j = 0; j < nr; j++)
                    {
                        int from = j < j8 ? p8 : 0;
                        if (j >= nw) { for (int p = 0; p < kc; p++) o[p * nr + j] = 0; continue; }
                        float* col = first + (long)j * b.Cs;
                        for (int p = from; p < kc; p++) o[p * nr + j] = col[p];
                    }
                    continue;
                }
                if (b.Cs == 1 && nw == nr && nr == 32)
                {
                    // row-major B, a full strip: two vector copies per k (a MemoryCopy call per row cost more)
                    float* row = src + b.Offset + (long)pc * b.Rs + n0;
                    for (int p = 0; p < kc; p++, o += 32, row += b.Rs)
                    {
                        Vector512.Store(Vector512.Load(row), o);
                        Vector512.Store(Vector512.Load(row + 16), o + 16);
                    }
                    continue;
                }
                if (b.Cs == 1 && nw == nr && nr == 16)
                {
                    // the same with Vector256 (a MemoryCopy call per 64-byte row was 5% of a 1024 product)
                    float* row = src + b.Offset + (long)pc * b.Rs + n0;
                    for (int p = 0; p < kc; p++, o += 16, row += b.Rs)
                    {
                        Vector256.Store(Vector256.Load(row), o);
                        Vector256.Store(Vector256.Load(row + 8), o + 8);
                    }
                    continue;
                }
                for (int p = 0; p < kc; p++, o += nr)
                {
                    float* row = src + b.Offset + (long)(pc + p) * b.Rs + (long)n0 * b.Cs;
                    if (b.Cs == 1) Buffer.MemoryCopy(row, o, nw * sizeof(float), nw * sizeof(float));
                    else for (int j = 0; j < nw; j++) o[j] = row[(long)j * b.Cs];
                    for (int j = nw; j < nr; j++) o[j] = 0;
                }
            }
    }

    /// <summary>dst[q·ldd + i] = src[i·lds + q] for an 8×8 block: unpack pairs, shuffle quads, swap 128-bit halves.</summary>
    internal static void Transpose8(float* src, int lds, float* dst, int ldd)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds); var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds); var r5 = Avx.LoadVector256(src + 5 * lds);
        var r6 = Avx.LoadVector256(src + 6 * lds); var r7 = Avx.LoadVector256(src + 7 * lds);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20)); Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20)); Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31)); Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31)); Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>
    /// dst[q·6 + i] = src[i·lds + q] for 6 rows of 8: an 8×8 transpose whose last two rows are
    /// zeros, stored at a stride of 6 in ascending order, so each store's two extra lanes land
    /// where the next one writes, and the last one's on the two floats after dst[47], which
    /// the caller owns (the next values of the strip, or <see cref="PackASlack"/>).
    /// </summary>
    static void Transpose6x8(float* src, nint lds, float* dst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + lds);
        var r2 = Avx.LoadVector256(src + 2 * lds); var r3 = Avx.LoadVector256(src + 3 * lds);
        var r4 = Avx.LoadVector256(src + 4 * lds); var r5 = Avx.LoadVector256(src + 5 * lds);
        var z = Vector256<float>.Zero;
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, z, 0x44); var u5 = Avx.Shuffle(t4, z, 0xEE);
        var u6 = Avx.Shuffle(t5, z, 0x44); var u7 = Avx.Shuffle(t5, z, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20)); Avx.Store(dst + 6, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 12, Avx.Permute2x128(u2, u6, 0x20)); Avx.Store(dst + 18, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 24, Avx.Permute2x128(u0, u4, 0x31)); Avx.Store(dst + 30, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 36, Avx.Permute2x128(u2, u6, 0x31)); Avx.Store(dst + 42, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Floats a packed A block needs after its end: <see cref="Transpose6x8"/>'s last store writes two beyond.</summary>
    const int PackASlack = 8;

    /// <summary>A[ic.., pc..] into strips of mr rows: for each k, mr consecutive values (zero beyond m).</summary>
    static void PackA(View a, int ic, int mc, int pc, int kc, int mr, float* pd)
    {
        fixed (float* src = a.Data)
            for (int r = 0; r * mr < mc; r++)
            {
                int m0 = ic + r * mr, mw = Math.Min(mr, ic + mc - m0);
                float* o = pd + r * mr * kc;
                if (a.Rs == 1 && a.Cs != 1)
                {
                    // column-major A (a transposed view): for each k, the mr rows are adjacent
                    for (int p = 0; p < kc; p++, o += mr)
                    {
                        float* col = src + a.Offset + m0 + (long)(pc + p) * a.Cs;
                        for (int i = 0; i < mw; i++) o[i] = col[i];
                        for (int i = mw; i < mr; i++) o[i] = 0;
                    }
                    continue;
                }
                int p8 = 0;
                if (a.Cs == 1 && mw == mr && mr == 12 && Avx.IsSupported)
                {
                    // row-major A, a full strip: rows 0-7 and 4-11 as 8×8 register transposes
                    // (rows 4-7 written twice, with the same values), the k tail below
                    float* first = src + a.Offset + (long)m0 * a.Rs + pc;
                    for (; p8 + 8 <= kc; p8 += 8)
                    {
                        Transpose8(first + p8, a.Rs, o + p8 * mr, mr);
                        Transpose8(first + 4L * a.Rs + p8, a.Rs, o + p8 * mr + 4, mr);
                    }
                }
                if (a.Cs == 1 && mw == mr && mr == 6 && Avx.IsSupported)
                {
                    // the same for strips of 6: each 8×8 transpose (two rows of zeros) stores eight
                    // k of 6 values, each store's last two lanes overwritten by the next
                    float* first = src + a.Offset + (long)m0 * a.Rs + pc;
                    for (; p8 + 8 <= kc; p8 += 8) Transpose6x8(first + p8, a.Rs, o + p8 * 6);
                }
                // row by row: each source row is read along k (contiguous when Cs = 1)
                for (int i = 0; i < mr; i++)
                {
                    if (i >= mw) { for (int p = 0; p < kc; p++) o[p * mr + i] = 0; continue; }
                    float* row = src + a.Offset + (long)(m0 + i) * a.Rs + (long)pc * a.Cs;
                    for (int p = p8; p < kc; p++) o[p * mr + i] = row[(long)p * a.Cs];
                }
            }
    }

    /// <summary>
    /// tile[12×32] (or, for a full tile, C itself) = Apanel·Bpanel over kc, in 24 zmm accumulators (24 FMAs per 2 loads of B
    /// and 12 broadcasts of A). The method makes no calls: SIMD registers are caller-saved, and a
    /// call anywhere in it makes the JIT spill every accumulator inside the loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile32(int kc, float* a, nint rs, nint cs, float* b, float* tile, float* c, int ldc, bool first)
    {
        // rows 0, 3, 6 and 9 as bases and rs, 2·rs as offsets: every broadcast is one addressing mode
        float* a0 = a, a3 = a + 3 * rs, a6 = a + 6 * rs, a9 = a + 9 * rs;
        nint rs2 = 2 * rs;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default, c90 = default, c91 = default, c100 = default, c101 = default, c110 = default, c111 = default;
        for (int p = 0; p < kc; p++, a0 += cs, a3 += cs, a6 += cs, a9 += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a0[rs]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a0[rs2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[0]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a3[rs]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a3[rs2]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[0]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a6[rs]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a6[rs2]); c80 = Vector512.FusedMultiplyAdd(x, b0, c80); c81 = Vector512.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a9[0]); c90 = Vector512.FusedMultiplyAdd(x, b0, c90); c91 = Vector512.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a9[rs]); c100 = Vector512.FusedMultiplyAdd(x, b0, c100); c101 = Vector512.FusedMultiplyAdd(x, b1, c101);
            x = Vector512.Create(a9[rs2]); c110 = Vector512.FusedMultiplyAdd(x, b0, c110); c111 = Vector512.FusedMultiplyAdd(x, b1, c111);
        }
        if (c != null)
        {
            // a full tile goes straight into C: stored on the first k block, added after
            Put(c + 0 * ldc, c00, c01, first);
            Put(c + 1 * ldc, c10, c11, first);
            Put(c + 2 * ldc, c20, c21, first);
            Put(c + 3 * ldc, c30, c31, first);
            Put(c + 4 * ldc, c40, c41, first);
            Put(c + 5 * ldc, c50, c51, first);
            Put(c + 6 * ldc, c60, c61, first);
            Put(c + 7 * ldc, c70, c71, first);
            Put(c + 8 * ldc, c80, c81, first);
            Put(c + 9 * ldc, c90, c91, first);
            Put(c + 10 * ldc, c100, c101, first);
            Put(c + 11 * ldc, c110, c111, first);
            return;
        }
        c00.Store(tile + 0); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144);
        c50.Store(tile + 160); c51.Store(tile + 176);
        c60.Store(tile + 192); c61.Store(tile + 208);
        c70.Store(tile + 224); c71.Store(tile + 240);
        c80.Store(tile + 256); c81.Store(tile + 272);
        c90.Store(tile + 288); c91.Store(tile + 304);
        c100.Store(tile + 320); c101.Store(tile + 336);
        c110.Store(tile + 352); c111.Store(tile + 368);
    }

    /// <summary>The first 4 rows of a 12×32 tile, for a short last strip of A (same loop as <see cref="Tile32"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile32x4(int kc, float* a, nint rs, nint cs, float* b, float* tile)
    {
        float* a0 = a, a3 = a + 3 * rs;
        nint rs2 = 2 * rs;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int p = 0; p < kc; p++, a0 += cs, a3 += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a0[rs]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a0[rs2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[0]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
        }
        c00.Store(tile + 0); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
    }

    /// <summary>The first 8 rows of a 12×32 tile, for a short last strip of A (same loop as <see cref="Tile32"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile32x8(int kc, float* a, nint rs, nint cs, float* b, float* tile)
    {
        float* a0 = a, a3 = a + 3 * rs, a6 = a + 6 * rs;
        nint rs2 = 2 * rs;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++, a0 += cs, a3 += cs, a6 += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a0[rs]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a0[rs2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a3[0]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a3[rs]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a3[rs2]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a6[0]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a6[rs]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }
        c00.Store(tile + 0); c01.Store(tile + 16);
        c10.Store(tile + 32); c11.Store(tile + 48);
        c20.Store(tile + 64); c21.Store(tile + 80);
        c30.Store(tile + 96); c31.Store(tile + 112);
        c40.Store(tile + 128); c41.Store(tile + 144);
        c50.Store(tile + 160); c51.Store(tile + 176);
        c60.Store(tile + 192); c61.Store(tile + 208);
        c70.Store(tile + 224); c71.Store(tile + 240);
    }

    /// <summary>The first 16 columns of a 12×32 tile (12 accumulators), for a strip of B with at most 16 valid columns.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile16Of32(int kc, float* a, nint rs, nint cs, float* b, float* tile)
    {
        float* a0 = a, a3 = a + 3 * rs, a6 = a + 6 * rs, a9 = a + 9 * rs;
        nint rs2 = 2 * rs;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (int p = 0; p < kc; p++, a0 += cs, a3 += cs, a6 += cs, a9 += cs, b += 32)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[rs]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[rs2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[0]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[rs]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[rs2]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[0]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[rs]), b0, c7);
            c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a6[rs2]), b0, c8);
            c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a9[0]), b0, c9);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a9[rs]), b0, c10);
            c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a9[rs2]), b0, c11);
        }
        c0.Store(tile + 0);
        c1.Store(tile + 32);
        c2.Store(tile + 64);
        c3.Store(tile + 96);
        c4.Store(tile + 128);
        c5.Store(tile + 160);
        c6.Store(tile + 192);
        c7.Store(tile + 224);
        c8.Store(tile + 256);
        c9.Store(tile + 288);
        c10.Store(tile + 320);
        c11.Store(tile + 352);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(float* row, Vector512<float> lo, Vector512<float> hi, bool first)
    {
        if (first) { lo.Store(row); hi.Store(row + 16); }
        else
        {
            (Vector512.Load(row) + lo).Store(row);
            (Vector512.Load(row + 16) + hi).Store(row + 16);
        }
    }

    /// <summary>
    /// tile[6×16] = Apanel·Bpanel over kc, in 12 ymm accumulators: machines without AVX-512
    /// have 16 vector registers, and 12 accumulators, two vectors of B and a broadcast fit
    /// (a 12×16 tile's 24 accumulators spilled in the loop). No calls, as in <see cref="Tile32"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Tile6x16(int kc, float* a, nint rs, nint cs, float* b, float* tile, float* c, nint ldc, bool first)
    {
        float* a0 = a, a3 = a + 3 * rs;
        nint rs2 = 2 * rs;
        if (c != null && Sse.IsSupported)
        {
            // C's rows are touched only after the loop: fetched now, their misses overlap the
            // FMAs instead of stalling the adds (matmul 1024 and 2048: 7-13% faster)
            Sse.Prefetch0(c); Sse.Prefetch0(c + 15);
            Sse.Prefetch0(c + ldc); Sse.Prefetch0(c + ldc + 15);
            Sse.Prefetch0(c + 2 * ldc); Sse.Prefetch0(c + 2 * ldc + 15);
            Sse.Prefetch0(c + 3 * ldc); Sse.Prefetch0(c + 3 * ldc + 15);
            Sse.Prefetch0(c + 4 * ldc); Sse.Prefetch0(c + 4 * ldc + 15);
            Sse.Prefetch0(c + 5 * ldc); Sse.Prefetch0(c + 5 * ldc + 15);
        }
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        int p = 0;
        if (rs == 1 && cs == 6)
        {
            // a packed strip: the six values of each k are adjacent; four k per turn of the loop
            // (2% faster than two in a kernel-only loop, 84 vs 86% of the FMA peak)
            for (; p + 4 <= kc; p += 4, a0 += 24, b += 64)
            {
                var b0 = Vector256.Load(b);
                var b1 = Vector256.Load(b + 8);
                var x = Vector256.Create(a0[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a0[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a0[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a0[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a0[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a0[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                b0 = Vector256.Load(b + 16);
                b1 = Vector256.Load(b + 24);
                x = Vector256.Create(a0[6]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a0[7]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a0[8]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a0[9]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a0[10]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a0[11]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                b0 = Vector256.Load(b + 32);
                b1 = Vector256.Load(b + 40);
                x = Vector256.Create(a0[12]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a0[13]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a0[14]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a0[15]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a0[16]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a0[17]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                b0 = Vector256.Load(b + 48);
                b1 = Vector256.Load(b + 56);
                x = Vector256.Create(a0[18]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a0[19]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a0[20]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a0[21]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a0[22]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a0[23]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            }
            a3 = a0 + 3;
        }
        else
        {
            // A read in place (any layout): two k per turn (kernel-only, 6 rows 1 KB apart:
            // 70-90% of the FMA peak against 61-82% one k a turn)
            nint rsc = rs + cs, rs2c = rs2 + cs, cs2 = 2 * cs;
            for (; p + 2 <= kc; p += 2, a0 += cs2, a3 += cs2, b += 32)
            {
                var b0 = Vector256.Load(b);
                var b1 = Vector256.Load(b + 8);
                var x = Vector256.Create(a0[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a0[rs]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a0[rs2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a3[0]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a3[rs]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a3[rs2]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
                b0 = Vector256.Load(b + 16);
                b1 = Vector256.Load(b + 24);
                x = Vector256.Create(a0[cs]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
                x = Vector256.Create(a0[rsc]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
                x = Vector256.Create(a0[rs2c]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
                x = Vector256.Create(a3[cs]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
                x = Vector256.Create(a3[rsc]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
                x = Vector256.Create(a3[rs2c]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            }
        }
        for (; p < kc; p++, a0 += cs, a3 += cs, b += 16)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a0[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a0[rs]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a0[rs2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[0]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a3[rs]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a3[rs2]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }
        if (c is null)
        {
            c00.Store(tile + 0); c01.Store(tile + 8);
            c10.Store(tile + 16); c11.Store(tile + 24);
            c20.Store(tile + 32); c21.Store(tile + 40);
            c30.Store(tile + 48); c31.Store(tile + 56);
            c40.Store(tile + 64); c41.Store(tile + 72);
            c50.Store(tile + 80); c51.Store(tile + 88);
            return;
        }
        if (!first)
        {
            c00 += Vector256.Load(c); c01 += Vector256.Load(c + 8);
            c10 += Vector256.Load(c + ldc); c11 += Vector256.Load(c + ldc + 8);
            c20 += Vector256.Load(c + 2 * ldc); c21 += Vector256.Load(c + 2 * ldc + 8);
            c30 += Vector256.Load(c + 3 * ldc); c31 += Vector256.Load(c + 3 * ldc + 8);
            c40 += Vector256.Load(c + 4 * ldc); c41 += Vector256.Load(c + 4 * ldc + 8);
            c50 += Vector256.Load(c + 5 * ldc); c51 += Vector256.Load(c + 5 * ldc + 8);
        }
        c00.Store(c); c01.Store(c + 8);
        c10.Store(c + ldc); c11.Store(c + ldc + 8);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 8);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 8);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 8);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 8);
    }

    /// <summary>Adds (or, for the first k block, stores) the valid mw×nw corner of a tile (row length ld) into C.</summary>
    static void Accumulate(float* tile, int ld, float* c, int ldc, int mw, int nw, bool first)
    {
        if (nw == ld)
        {
            for (int i = 0; i < mw; i++, tile += ld, c += ldc)
                for (int j = 0; j < ld; j += 8)
                    (first ? Vector256.Load(tile + j) : Vector256.Load(c + j) + Vector256.Load(tile + j)).Store(c + j);
            return;
        }
        for (int i = 0; i < mw; i++)
            for (int j = 0; j < nw; j++) c[i * ldc + j] = first ? tile[i * ld + j] : c[i * ldc + j] + tile[i * ld + j];
    }

    /// <summary>
    /// Each thread's buffers for packed panels, 64-byte aligned in native memory: ArrayPool
    /// arrays start anywhere, and a 512-bit load from a misaligned panel straddles two cache
    /// lines. They grow as needed and are freed with the thread.
    /// </summary>
    sealed class Scratch
    {
        [ThreadStatic] static Scratch? current;
        float* b, a;
        nuint bLength, aLength;

        public static Scratch ForThisThread => current ??= new Scratch();

        public float* B(int n) => Ensure(ref b, ref bLength, n);

        public float* A(int n) => Ensure(ref a, ref aLength, n);

        static float* Ensure(ref float* p, ref nuint length, int n)
        {
            if ((nuint)n > length)
            {
                NativeMemory.AlignedFree(p);
                p = null;
                length = 0;
                p = (float*)NativeMemory.AlignedAlloc((nuint)n * sizeof(float), 64);
                length = (nuint)n;
            }
            return p;
        }

        ~Scratch()
        {
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(a);
        }
    }
}
