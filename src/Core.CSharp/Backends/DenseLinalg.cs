namespace Cotangent.Backends;

/// <summary>
/// Where the factorisations read and write: a window onto host memory or onto a device view,
/// so that one written-out algorithm serves the CPU kernels and the ILGPU kernels (a kernel can
/// take neither arrays nor spans, and cannot allocate).
/// </summary>
internal interface IDoubles
{
    double this[int i] { get; set; }
}

/// <summary>Host float64 values from <c>offset</c> on.</summary>
internal readonly struct HostDoubles : IDoubles
{
    readonly double[] values;
    readonly int offset;

    public HostDoubles(double[] values, int offset)
    {
        this.values = values;
        this.offset = offset;
    }

    public double this[int i]
    {
        get => values[offset + i];
        set => values[offset + i] = value;
    }
}

/// <summary>
/// Dense factorisations of one row-major float64 matrix at a time: elimination with partial
/// pivoting (solve, and the pivots that det and slogdet read), Cholesky, Householder QR, cyclic
/// Jacobi for symmetric eigenproblems and one-sided Jacobi (Hestenes) for the SVD. Written for
/// both the host and a device: generic over the buffers (<see cref="IDoubles"/>), scratch space
/// handed in (<see cref="QrScratch"/>, <see cref="EighScratch"/>, <see cref="SvdScratch"/>), no
/// allocation, recursion or library calls beyond square roots. Each result is put in a
/// canonical form (R's diagonal ≥ 0, eigenvalues ascending, singular values descending, each
/// vector's largest entry positive) so that it is a smooth function of the input wherever the
/// decomposition is unique; equal values keep their original order, as a stable sort would.
/// </summary>
internal static class DenseLinalg
{
    /// <summary>
    /// Overwrites x [n, k] (holding B) with X, A·X = B, by elimination with partial pivoting on a
    /// [n, n] (destroyed); 0, or the 1-based column whose pivot is exactly 0 (A is singular).
    /// </summary>
    public static int Solve<T>(T a, T x, int n, int k) where T : struct, IDoubles
    {
        for (int c = 0; c < n; c++)
        {
            int p = Pivot(a, n, c);
            if (a[p * n + c] == 0) return c + 1;
            if (p != c)
            {
                SwapRows(a, n, p, c, c);
                SwapRows(x, k, p, c, 0);
            }
            double d = a[c * n + c];
            for (int i = c + 1; i < n; i++)
            {
                double f = a[i * n + c] / d;
                if (f == 0) continue;
                for (int j = c + 1; j < n; j++) a[i * n + j] -= f * a[c * n + j];
                for (int j = 0; j < k; j++) x[i * k + j] -= f * x[c * k + j];
            }
        }
        for (int i = n - 1; i >= 0; i--)
        {
            for (int t = i + 1; t < n; t++)
            {
                double f = a[i * n + t];
                if (f != 0) for (int j = 0; j < k; j++) x[i * k + j] -= f * x[t * k + j];
            }
            double d = a[i * n + i];
            for (int j = 0; j < k; j++) x[i * k + j] /= d;
        }
        return 0;
    }

    /// <summary>
    /// U's diagonal of PA = LU by elimination with partial pivoting on a [n, n] (destroyed), in
    /// o[0 … n), and the sign of P in o[n]: det A = o[n]·Π o[i]. A zero pivot is kept (det 0).
    /// </summary>
    public static void Pivots<T>(T a, int n, T o) where T : struct, IDoubles
    {
        double sign = 1;
        for (int c = 0; c < n; c++)
        {
            int p = Pivot(a, n, c);
            if (p != c)
            {
                SwapRows(a, n, p, c, c);
                sign = -sign;
            }
            double d = a[c * n + c];
            o[c] = d;
            if (d == 0) continue;
            for (int i = c + 1; i < n; i++)
            {
                double f = a[i * n + c] / d;
                if (f == 0) continue;
                for (int j = c + 1; j < n; j++) a[i * n + j] -= f * a[c * n + j];
            }
        }
        o[n] = sign;
    }

    /// <summary>The row at or below c with the largest |a[., c]| (the first of equals).</summary>
    static int Pivot<T>(T a, int n, int c) where T : struct, IDoubles
    {
        int p = c;
        for (int i = c + 1; i < n; i++)
            if (Math.Abs(a[i * n + c]) > Math.Abs(a[p * n + c])) p = i;
        return p;
    }

    /// <summary>Swaps rows p and q of a [., cols] from column <paramref name="from"/> on.</summary>
    static void SwapRows<T>(T a, int cols, int p, int q, int from) where T : struct, IDoubles
    {
        for (int j = from; j < cols; j++)
        {
            double t = a[p * cols + j];
            a[p * cols + j] = a[q * cols + j];
            a[q * cols + j] = t;
        }
    }

    /// <summary>A = LLᵀ into l [n, n], L lower (a's upper triangle is not read); the failing leading minor (1-based), or 0 on success.</summary>
    public static int Cholesky<T>(T a, int n, T l) where T : struct, IDoubles
    {
        for (int i = 0; i < n * n; i++) l[i] = 0;
        for (int j = 0; j < n; j++)
        {
            double s = a[j * n + j];
            for (int k = 0; k < j; k++) s -= l[j * n + k] * l[j * n + k];
            if (!(s > 0)) return j + 1;
            double d = Math.Sqrt(s);
            l[j * n + j] = d;
            for (int i = j + 1; i < n; i++)
            {
                double t = a[i * n + j];
                for (int k = 0; k < j; k++) t -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = t / d;
            }
        }
        return 0;
    }

    /// <summary>Scratch doubles <see cref="Qr"/> needs for an m×n matrix: the reduced matrix and one Householder vector a column.</summary>
    public static long QrScratch(long m, long n) => m * n + Math.Min(m, n) * m;

    /// <summary>Reduced QR of a [m, n] by Householder reflections: q [m, k], r [k, n], k = min(m, n), R's diagonal made ≥ 0.</summary>
    public static void Qr<T>(T a, int m, int n, T scratch, int at, T q, T r) where T : struct, IDoubles
    {
        int k = Math.Min(m, n), w = at, vs = at + m * n;
        for (int i = 0; i < m * n; i++) scratch[w + i] = a[i];
        for (int c = 0; c < k; c++)
        {
            int v = vs + c * m;
            for (int i = 0; i < m; i++) scratch[v + i] = 0;
            double norm = 0;
            for (int i = c; i < m; i++) norm += scratch[w + i * n + c] * scratch[w + i * n + c];
            norm = Math.Sqrt(norm);
            if (norm == 0) continue;
            double alpha = scratch[w + c * n + c] > 0 ? -norm : norm;
            for (int i = c; i < m; i++) scratch[v + i] = scratch[w + i * n + c];
            scratch[v + c] -= alpha;
            double vn = 0;
            for (int i = c; i < m; i++) vn += scratch[v + i] * scratch[v + i];
            vn = Math.Sqrt(vn);
            if (vn == 0)
            {
                for (int i = 0; i < m; i++) scratch[v + i] = 0;
                continue;
            }
            for (int i = c; i < m; i++) scratch[v + i] /= vn;
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int i = c; i < m; i++) dot += scratch[v + i] * scratch[w + i * n + j];
                for (int i = c; i < m; i++) scratch[w + i * n + j] -= 2 * scratch[v + i] * dot;
            }
        }
        // Q = H₀ H₁ … applied to the first k columns of the identity
        for (int i = 0; i < m * k; i++) q[i] = 0;
        for (int i = 0; i < k; i++) q[i * k + i] = 1;
        for (int c = k - 1; c >= 0; c--)
        {
            int v = vs + c * m;
            for (int j = 0; j < k; j++)
            {
                double dot = 0;
                for (int i = c; i < m; i++) dot += scratch[v + i] * q[i * k + j];
                for (int i = c; i < m; i++) q[i * k + j] -= 2 * scratch[v + i] * dot;
            }
        }
        for (int i = 0; i < k * n; i++) r[i] = 0;
        for (int i = 0; i < k; i++)
        {
            double sign = scratch[w + i * n + i] < 0 ? -1 : 1;
            for (int j = i; j < n; j++) r[i * n + j] = sign * scratch[w + i * n + j];
            for (int t = 0; t < m; t++) q[t * k + i] = sign * q[t * k + i];
        }
    }

    /// <summary>Scratch doubles <see cref="Eigh"/> needs for an n×n matrix: the rotated matrix and the accumulated rotations.</summary>
    public static long EighScratch(long n) => 2 * n * n;

    /// <summary>Symmetric a [n, n] (read from its lower triangle) = V diag(λ) Vᵀ by cyclic Jacobi: λ ascending into values [n], V's columns the eigenvectors into vectors [n, n].</summary>
    public static void Eigh<T>(T a, int n, T scratch, int at, T values, T vectors) where T : struct, IDoubles
    {
        int s = at, v = at + n * n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                scratch[s + i * n + j] = a[i * n + j];
                scratch[s + j * n + i] = a[i * n + j];
            }
        for (int i = 0; i < n * n; i++) scratch[v + i] = 0;
        for (int i = 0; i < n; i++) scratch[v + i * n + i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, total = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double e = scratch[s + i * n + j];
                    total += e * e;
                    if (i != j) off += e * e;
                }
            if (off <= 1e-30 * total || off == 0) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = scratch[s + p * n + q];
                    if (apq == 0) continue;
                    double theta = (scratch[s + q * n + q] - scratch[s + p * n + p]) / (2 * apq);
                    double t = (theta < 0 ? -1 : 1) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), sn = t * c;
                    Rotate(scratch, s, n, n, p, q, c, sn, columns: true);
                    Rotate(scratch, s, n, n, p, q, c, sn, columns: false);
                    Rotate(scratch, v, n, n, p, q, c, sn, columns: true);
                }
        }
        // ascending, the first of equals first: each pick's diagonal entry is marked +∞ (the input is finite)
        for (int j = 0; j < n; j++)
        {
            int best = -1;
            for (int i = 0; i < n; i++)
            {
                double d = scratch[s + i * n + i];
                if (d != double.PositiveInfinity && (best < 0 || d < scratch[s + best * n + best])) best = i;
            }
            values[j] = scratch[s + best * n + best];
            scratch[s + best * n + best] = double.PositiveInfinity;
            for (int i = 0; i < n; i++) vectors[i * n + j] = scratch[v + i * n + best];
        }
        Canonical(vectors, n, n, vectors, 0, false);
    }

    /// <summary>Scratch doubles <see cref="Svd"/> needs for an m×n matrix.</summary>
    public static long SvdScratch(long m, long n) => m >= n ? TallScratch(m, n) : 2 * m * n + m * m + TallScratch(n, m);

    /// <summary>Scratch of the tall case (m ≥ n): the rotated columns, the accumulated rotations, the column norms and one candidate vector.</summary>
    static long TallScratch(long m, long n) => m * n + n * n + n + m;

    /// <summary>
    /// The most doubles one buffer of a batched call over <paramref name="count"/> m×n matrices
    /// holds (the working copy, the packed outputs, every matrix's scratch): the op refuses a
    /// batch past <see cref="Array.MaxLength"/> before any kernel indexes it with ints.
    /// </summary>
    public static long LargestBuffer(long count, long m, long n)
    {
        long k = Math.Min(m, n);
        long perMatrix = new[] { m * n, n + 1, m * k + k + k * n, n + n * n, QrScratch(m, n), SvdScratch(m, n), m == n ? EighScratch(n) : 0 }.Max();
        return count * perMatrix;
    }

    /// <summary>
    /// Reduced SVD of a [m, n]: u [m, k], s [k] descending, vt [k, n], by one-sided Jacobi on the
    /// columns (of Aᵀ when m &lt; n); a zero singular value's left vector completes U to
    /// orthonormal columns.
    /// </summary>
    public static void Svd<T>(T a, int m, int n, T scratch, int at, T u, T sv, T vt) where T : struct, IDoubles
    {
        if (m >= n)
        {
            SvdTall(a, 0, m, n, scratch, at, u, 0, sv, vt, 0);
            return;
        }
        // Aᵀ = U' S V'ᵀ, so A = V' S U'ᵀ: U = V' (the transpose of V'ᵀ), Vᵀ = U'ᵀ
        int t = at, ut = at + m * n, vtt = ut + n * m, rest = vtt + m * m;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) scratch[t + j * m + i] = a[i * n + j];
        SvdTall(scratch, t, n, m, scratch, rest, scratch, ut, sv, scratch, vtt);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++) u[i * m + j] = scratch[vtt + j * m + i];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) vt[i * n + j] = scratch[ut + j * m + i];
    }

    static void SvdTall<T>(T a, int ao, int m, int n, T scratch, int at, T u, int uo, T sv, T vt, int vo) where T : struct, IDoubles
    {
        int k = n, w = at, v = w + m * n, norms = v + n * n, cand = norms + n;
        for (int i = 0; i < m * n; i++) scratch[w + i] = a[ao + i];
        for (int i = 0; i < n * n; i++) scratch[v + i] = 0;
        for (int i = 0; i < n; i++) scratch[v + i * n + i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++)
                    {
                        double x = scratch[w + i * n + p], y = scratch[w + i * n + q];
                        alpha += x * x;
                        beta += y * y;
                        gamma += x * y;
                    }
                    if (gamma == 0 || Math.Abs(gamma) <= 1e-16 * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = (zeta < 0 ? -1 : 1) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / Math.Sqrt(1 + t * t), s = c * t;
                    Rotate(scratch, w, m, n, p, q, c, s, columns: true);
                    Rotate(scratch, v, n, n, p, q, c, s, columns: true);
                }
            if (!rotated) break;
        }
        double largest = 0;
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int i = 0; i < m; i++) s += scratch[w + i * n + j] * scratch[w + i * n + j];
            scratch[norms + j] = Math.Sqrt(s);
            largest = Math.Max(largest, scratch[norms + j]);
        }
        double tiny = largest * 1e-14 * Math.Max(m, n);
        // descending, the first of equals first: each pick's norm is marked −1 (norms are ≥ 0)
        for (int c = 0; c < k; c++)
        {
            int j = 0;
            for (int i = 1; i < n; i++)
                if (scratch[norms + i] > scratch[norms + j]) j = i;
            double nj = scratch[norms + j];
            scratch[norms + j] = -1;
            sv[c] = nj;
            for (int i = 0; i < m; i++) u[uo + i * k + c] = nj > tiny ? scratch[w + i * n + j] / nj : 0;
            for (int i = 0; i < n; i++) vt[vo + c * n + i] = scratch[v + i * n + j];
        }
        // columns of U for (numerically) zero singular values: complete to an orthonormal set
        for (int c = 0; c < k; c++)
        {
            if (sv[c] > tiny) continue;
            for (int e = 0; e < m; e++)
            {
                for (int i = 0; i < m; i++) scratch[cand + i] = i == e ? 1 : 0;
                for (int o = 0; o < k; o++)
                {
                    if (o == c || (sv[o] <= tiny && o > c)) continue;
                    double dot = 0;
                    for (int i = 0; i < m; i++) dot += u[uo + i * k + o] * scratch[cand + i];
                    for (int i = 0; i < m; i++) scratch[cand + i] -= dot * u[uo + i * k + o];
                }
                double nrm = 0;
                for (int i = 0; i < m; i++) nrm += scratch[cand + i] * scratch[cand + i];
                nrm = Math.Sqrt(nrm);
                if (nrm < 1e-8) continue;
                for (int i = 0; i < m; i++) u[uo + i * k + c] = scratch[cand + i] / nrm;
                break;
            }
        }
        CanonicalAt(u, uo, m, k, vt, vo, n, true);
    }

    /// <summary>Each column of vectors [rows, cols] flipped so its largest entry is positive (rows of the partner [cols, partnerCols] flipped with it).</summary>
    static void Canonical<T>(T vectors, int rows, int cols, T partner, int partnerCols, bool flipPartner) where T : struct, IDoubles =>
        CanonicalAt(vectors, 0, rows, cols, partner, 0, partnerCols, flipPartner);

    static void CanonicalAt<T>(T vectors, int vo, int rows, int cols, T partner, int po, int partnerCols, bool flipPartner) where T : struct, IDoubles
    {
        for (int c = 0; c < cols; c++)
        {
            int best = 0;
            for (int i = 1; i < rows; i++)
                if (Math.Abs(vectors[vo + i * cols + c]) > Math.Abs(vectors[vo + best * cols + c])) best = i;
            if (vectors[vo + best * cols + c] >= 0) continue;
            for (int i = 0; i < rows; i++) vectors[vo + i * cols + c] = -vectors[vo + i * cols + c];
            if (flipPartner)
                for (int j = 0; j < partnerCols; j++) partner[po + c * partnerCols + j] = -partner[po + c * partnerCols + j];
        }
    }

    /// <summary>A Givens rotation of columns p and q of the [rows, cols] matrix at <paramref name="at"/> (or of rows p and q): (x, y) ← (c·x − s·y, s·x + c·y).</summary>
    static void Rotate<T>(T a, int at, int rows, int cols, int p, int q, double c, double s, bool columns) where T : struct, IDoubles
    {
        int count = columns ? rows : cols;
        for (int k = 0; k < count; k++)
        {
            int ip = at + (columns ? k * cols + p : p * cols + k), iq = at + (columns ? k * cols + q : q * cols + k);
            double x = a[ip], y = a[iq];
            a[ip] = c * x - s * y;
            a[iq] = s * x + c * y;
        }
    }
}
