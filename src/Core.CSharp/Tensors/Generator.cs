namespace Cotangent;

/// <summary>
/// A seedable source of random numbers (xoshiro256**, seeded through splitmix64), the same
/// stream on every platform and .NET version. <see cref="Default"/> serves the creation
/// functions unless one is passed; <see cref="Tensor.ManualSeed"/> reseeds it.
/// </summary>
public sealed class Generator
{
    ulong s0, s1, s2, s3;
    readonly Lock gate = new();

    /// <summary>A generator seeded with <paramref name="seed"/>.</summary>
    public Generator(ulong seed) => Seed(seed);

    /// <summary>The generator the creation functions use when none is passed.</summary>
    public static Generator Default { get; } = new(0x5EED);

    /// <summary>Restarts the stream from <paramref name="seed"/>.</summary>
    public void Seed(ulong seed)
    {
        lock (gate)
        {
            ulong z = seed;
            s0 = SplitMix(ref z); s1 = SplitMix(ref z); s2 = SplitMix(ref z); s3 = SplitMix(ref z);
        }
    }

    static ulong SplitMix(ref ulong z)
    {
        ulong r = z += 0x9E3779B97F4A7C15UL;
        r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9UL;
        r = (r ^ (r >> 27)) * 0x94D049BB133111EBUL;
        return r ^ (r >> 31);
    }

    ulong Next()
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
        s3 = ulong.RotateLeft(s3, 45);
        return result;
    }

    static void Count(string what, int n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, $"generator.{what}: the count must be 0 or more, got {n}");
    }

    /// <summary>n uniform doubles in [0, 1).</summary>
    public double[] Uniform(int n)
    {
        Count("uniform", n);
        var o = new double[n];
        lock (gate) for (int i = 0; i < n; i++) o[i] = (Next() >> 11) * (1.0 / (1UL << 53));
        return o;
    }

    /// <summary>n standard normal doubles (Box–Muller on two uniforms each pair).</summary>
    public double[] Normal(int n)
    {
        Count("normal", n);
        var o = new double[n];
        lock (gate)
            for (int i = 0; i < n; i += 2)
            {
                double u1 = ((Next() >> 11) + 1.0) * (1.0 / ((1UL << 53) + 1.0));
                double u2 = (Next() >> 11) * (1.0 / (1UL << 53));
                double r = Math.Sqrt(-2.0 * Math.Log(u1));
                o[i] = r * Math.Cos(2 * Math.PI * u2);
                if (i + 1 < n) o[i + 1] = r * Math.Sin(2 * Math.PI * u2);
            }
        return o;
    }

    /// <summary>n integers uniform in [low, high).</summary>
    public long[] Integers(long low, long high, int n)
    {
        Count("integers", n);
        if (high <= low) throw new ArgumentException($"randint: high ({high}) must be greater than low ({low})");
        var range = (ulong)(high - low);
        var o = new long[n];
        lock (gate)
            for (int i = 0; i < n; i++)
            {
                // Lemire's multiply-shift with rejection: unbiased for any range.
                ulong x = Next();
                UInt128 m = (UInt128)x * range;
                ulong l = (ulong)m;
                if (l < range)
                {
                    ulong t = (0 - range) % range;
                    while (l < t) { x = Next(); m = (UInt128)x * range; l = (ulong)m; }
                }
                o[i] = low + (long)(ulong)(m >> 64);
            }
        return o;
    }
}
