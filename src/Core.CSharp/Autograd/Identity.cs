using System.Runtime.CompilerServices;

namespace Cotangent;

/// <summary>
/// Reference equality with a hash stored in the object. The backward pass keys its tables by
/// node and tensor; RuntimeHelpers.GetHashCode must first assign each new object a hash in its
/// header (a slow path), which showed up at 4% of a training step's backward pass.
/// </summary>
internal sealed class ByIdentity : IEqualityComparer<object>, IEqualityComparer<Node>, IEqualityComparer<Tensor>, IEqualityComparer<Storage>
{
    public static readonly ByIdentity Instance = new();

    [ThreadStatic] static uint state;

    /// <summary>A well-spread hash for a new object, from a per-thread xorshift (no shared counter).</summary>
    public static int Next()
    {
        uint x = state;
        if (x == 0) x = (uint)Environment.CurrentManagedThreadId * 0x9E3779B9u | 1;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        state = x;
        return (int)x;
    }

    public new bool Equals(object? a, object? b) => ReferenceEquals(a, b);
    public bool Equals(Node? a, Node? b) => ReferenceEquals(a, b);
    public bool Equals(Tensor? a, Tensor? b) => ReferenceEquals(a, b);
    public bool Equals(Storage? a, Storage? b) => ReferenceEquals(a, b);
    public int GetHashCode(object o) => o switch { Node n => n.IdentityHash, Tensor t => t.IdentityHash, _ => RuntimeHelpers.GetHashCode(o) };
    public int GetHashCode(Node n) => n.IdentityHash;
    public int GetHashCode(Tensor t) => t.IdentityHash;
    public int GetHashCode(Storage s) => s.Born.GetHashCode();   // Born is unique per storage
}
