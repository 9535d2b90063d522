namespace Cotangent.Backends;

/// <summary>
/// Dense factorisations of one row-major float64 matrix at a time, on the host: LU with partial
/// pivoting, Cholesky, Householder QR, cyclic Jacobi for symmetric eigenproblems and one-sided
/// Jacobi (Hestenes) for the SVD. Each result is put in a canonical form (R's diagonal ≥ 0,
/// eigenvalues ascending, singular values descending, each vector's largest entry positive) so
/// that it is a smooth function of the input wherever the decomposition is unique.
/// </summary>
internal static class DenseLinalg
{
    /// <summary>PA = LU in place (L unit lower, U upper) with row swaps in perm; false when a pivot is exactly 0 (singular).</summary>
    public static bool Lu(double[] a, int n, int[] perm, out int swaps)
    {
        swaps = 0;
        for (int i = 0; i < n; i++) perm[i] = i;
        bool regular = true;
        for (int k = 0; k < n; k++)
        {
            int p = k;
            for (int i = k + 1; i < n; i++)
                if (Math.Abs(a[i * n + k]) > Math.Abs(a[p * n + k])) p = i;
            if (p != k)
            {
                for (int j = 0; j < n; j++) (a[k * n + j], a[p * n + j]) = (a[p * n + j], a[k * n + j]);
                (perm[k], perm[p]) = (perm[p], perm[k]);
                swaps++;
            }
            double d = a[k * n + k];
            if (d == 0) { regular = false; continue; }
            for (int i = k + 1; i < n; i++)
            {
                double f = a[i * n + k] /= d;
                if (f == 0) continue;
                for (int j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
            }
        }
        return regular;
    }

    /// <summary>Solves A X = B (B [n, m], overwritten by X) from A's LU and row permutation.</summary>
    public static void LuSolve(double[] lu, int[] perm, int n, double[] b, int m)
    {
        var x = new double[n * m];
        for (int i = 0; i < n; i++) Array.Copy(b, perm[i] * m, x, i * m, m);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i; k++)
            {
                double f = lu[i * n + k];
                if (f != 0) for (int j = 0; j < m; j++) x[i * m + j] -= f * x[k * m + j];
            }
        for (int i = n - 1; i >= 0; i--)
        {
            for (int k = i + 1; k < n; k++)
            {
                double f = lu[i * n + k];
                if (f != 0) for (int j = 0; j < m; j++) x[i * m + j] -= f * x[k * m + j];
            }
            double d = lu[i * n + i];
            for (int j = 0; j < m; j++) x[i * m + j] /= d;
        }
        Array.Copy(x, b, x.Length);
    }

    /// <summary>A = LLᵀ, L lower (the upper triangle is not read); the failing leading minor (1-based), or 0 on success.</summary>
    public static int Cholesky(double[] a, int n, double[] l)
    {
        Array.Clear(l);
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

    /// <summary>Reduced QR of A [m, n] by Householder reflections: Q [m, k], R [k, n], k = min(m, n), R's diagonal made ≥ 0.</summary>
    public static void Qr(double[] a, int m, int n, double[] q, double[] r)
    {
        int k = Math.Min(m, n);
        var w = (double[])a.Clone();
        var vs = new double[k][];
        for (int c = 0; c < k; c++)
        {
            double norm = 0;
            for (int i = c; i < m; i++) norm += w[i * n + c] * w[i * n + c];
            norm = Math.Sqrt(norm);
            var v = new double[m];
            if (norm == 0) { vs[c] = v; continue; }
            double alpha = w[c * n + c] > 0 ? -norm : norm;
            for (int i = c; i < m; i++) v[i] = w[i * n + c];
            v[c] -= alpha;
            double vn = 0;
            for (int i = c; i < m; i++) vn += v[i] * v[i];
            vn = Math.Sqrt(vn);
            if (vn == 0) { vs[c] = new double[m]; continue; }
            for (int i = c; i < m; i++) v[i] /= vn;
            vs[c] = v;
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int i = c; i < m; i++) dot += v[i] * w[i * n + j];
                for (int i = c; i < m; i++) w[i * n + j] -= 2 * v[i] * dot;
            }
        }
        // Q = H₀ H₁ … applied to the first k columns of the identity
        var full = new double[m * k];
        for (int i = 0; i < k; i++) full[i * k + i] = 1;
        for (int c = k - 1; c >= 0; c--)
        {
            var v = vs[c];
            for (int j = 0; j < k; j++)
            {
                double dot = 0;
                for (int i = c; i < m; i++) dot += v[i] * full[i * k + j];
                for (int i = c; i < m; i++) full[i * k + j] -= 2 * v[i] * dot;
            }
        }
        Array.Clear(r);
        for (int i = 0; i < k; i++)
        {
            double sign = w[i * n + i] < 0 ? -1 : 1;
            for (int j = i; j < n; j++) r[i * n + j] = sign * w[i * n + j];
            for (int t = 0; t < m; t++) q[t * k + i] = sign * full[t * k + i];
        }
    }

    /// <summary>Symmetric A [n, n] (read from its lower triangle) = V diag(λ) Vᵀ by cyclic Jacobi; λ ascending, V's columns the eigenvectors.</summary>
    public static void Eigh(double[] a, int n, double[] values, double[] vectors)
    {
        var s = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) s[i * n + j] = s[j * n + i] = a[i * n + j];
        var v = new double[n * n];
        for (int i = 0; i < n; i++) v[i * n + i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, total = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    total += s[i * n + j] * s[i * n + j];
                    if (i != j) off += s[i * n + j] * s[i * n + j];
                }
            if (off <= 1e-30 * total || off == 0) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double apq = s[p * n + q];
                    if (apq == 0) continue;
                    double theta = (s[q * n + q] - s[p * n + p]) / (2 * apq);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), sn = t * c;
                    Rotate(s, n, n, p, q, c, sn, columns: true);
                    Rotate(s, n, n, p, q, c, sn, columns: false);
                    Rotate(v, n, n, p, q, c, sn, columns: true);
                }
        }
        var order = Enumerable.Range(0, n).OrderBy(i => s[i * n + i]).ToArray();
        for (int j = 0; j < n; j++)
        {
            int src = order[j];
            values[j] = s[src * n + src];
            for (int i = 0; i < n; i++) vectors[i * n + j] = v[i * n + src];
        }
        Canonical(vectors, n, n, null, 0);
    }

    /// <summary>
    /// Reduced SVD of A [m, n]: U [m, k], S [k] descending, Vᵀ [k, n], by one-sided Jacobi on
    /// the columns (of Aᵀ when m &lt; n); a zero singular value's left vector completes U to
    /// orthonormal columns.
    /// </summary>
    public static void Svd(double[] a, int m, int n, double[] u, double[] sv, double[] vt)
    {
        if (m < n)
        {
            var at = Transpose(a, m, n);
            var (ut, vtt) = (new double[n * m], new double[m * m]);
            Svd(at, n, m, ut, sv, vtt);
            // Aᵀ = U' S V'ᵀ, so A = V' S U'ᵀ: U = V' (from V'ᵀ), Vᵀ = U'ᵀ
            var vPrime = Transpose(vtt, m, m);
            Array.Copy(vPrime, u, m * m);
            Array.Copy(Transpose(ut, n, m), vt, m * n);
            return;
        }
        int k = n;
        var w = (double[])a.Clone();
        var v = new double[n * n];
        for (int i = 0; i < n; i++) v[i * n + i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            bool rotated = false;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    double alpha = 0, beta = 0, gamma = 0;
                    for (int i = 0; i < m; i++)
                    {
                        alpha += w[i * n + p] * w[i * n + p];
                        beta += w[i * n + q] * w[i * n + q];
                        gamma += w[i * n + p] * w[i * n + q];
                    }
                    if (gamma == 0 || Math.Abs(gamma) <= 1e-16 * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = Math.Sign(zeta == 0 ? 1 : zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / Math.Sqrt(1 + t * t), s = c * t;
                    Rotate(w, m, n, p, q, c, s, columns: true);
                    Rotate(v, n, n, p, q, c, s, columns: true);
                }
            if (!rotated) break;
        }
        var norms = new double[n];
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int i = 0; i < m; i++) s += w[i * n + j] * w[i * n + j];
            norms[j] = Math.Sqrt(s);
        }
        var order = Enumerable.Range(0, n).OrderByDescending(j => norms[j]).ToArray();
        double tiny = (norms.Length > 0 ? norms.Max() : 0) * 1e-14 * Math.Max(m, n);
        for (int c = 0; c < k; c++)
        {
            int j = order[c];
            sv[c] = norms[j];
            for (int i = 0; i < m; i++) u[i * k + c] = norms[j] > tiny ? w[i * n + j] / norms[j] : 0;
            for (int i = 0; i < n; i++) vt[c * n + i] = v[i * n + j];
        }
        // columns of U for (numerically) zero singular values: complete to an orthonormal set
        for (int c = 0; c < k; c++)
        {
            if (sv[c] > tiny) continue;
            for (int e = 0; e < m; e++)
            {
                var cand = new double[m];
                cand[e] = 1;
                for (int o = 0; o < k; o++)
                {
                    if (o == c || (sv[o] <= tiny && o > c)) continue;
                    double dot = 0;
                    for (int i = 0; i < m; i++) dot += u[i * k + o] * cand[i];
                    for (int i = 0; i < m; i++) cand[i] -= dot * u[i * k + o];
                }
                double nrm = Math.Sqrt(cand.Sum(x => x * x));
                if (nrm < 1e-8) continue;
                for (int i = 0; i < m; i++) u[i * k + c] = cand[i] / nrm;
                break;
            }
        }
        Canonical(u, m, k, vt, n);
    }

    /// <summary>Each column of vectors [rows, cols] flipped so its largest entry is positive (rows of <paramref name="partner"/> flipped with it).</summary>
    static void Canonical(double[] vectors, int rows, int cols, double[]? partner, int partnerCols)
    {
        for (int c = 0; c < cols; c++)
        {
            int best = 0;
            for (int i = 1; i < rows; i++)
                if (Math.Abs(vectors[i * cols + c]) > Math.Abs(vectors[best * cols + c])) best = i;
            if (vectors[best * cols + c] >= 0) continue;
            for (int i = 0; i < rows; i++) vectors[i * cols + c] = -vectors[i * cols + c];
            if (partner is not null)
                for (int j = 0; j < partnerCols; j++) partner[c * partnerCols + j] = -partner[c * partnerCols + j];
        }
    }

    /// <summary>A Givens rotation of columns p and q of a [rows, cols] (or of rows p and q): (x, y) ← (c·x − s·y, s·x + c·y).</summary>
    static void Rotate(double[] a, int rows, int cols, int p, int q, double c, double s, bool columns)
    {
        int count = columns ? rows : cols;
        for (int k = 0; k < count; k++)
        {
            int ip = columns ? k * cols + p : p * cols + k, iq = columns ? k * cols + q : q * cols + k;
            double x = a[ip], y = a[iq];
            a[ip] = c * x - s * y;
            a[iq] = s * x + c * y;
        }
    }

    static double[] Transpose(double[] a, int m, int n)
    {
        var t = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
        return t;
    }
}
