using System.Reflection;

namespace Cotangent;

/// <summary>How an op gets its gradient.</summary>
public enum OpKind
{
    /// <summary>Has its own VJP rule, next to its forward.</summary>
    Primitive,
    /// <summary>Written with other ops; its gradient follows from theirs.</summary>
    Composite,
    /// <summary>Produces values that carry no gradient (masks, signs).</summary>
    NonDifferentiable,
}

/// <summary>Marks a public method as the definition of an op; the registry lists every marked method.</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Property, AllowMultiple = false)]
public sealed class OpAttribute(string name, OpKind kind = OpKind.Primitive) : Attribute
{
    /// <summary>The op's name, as in messages and <c>GradFn</c>.</summary>
    public string Name { get; } = name;
    /// <summary>How it gets its gradient.</summary>
    public OpKind Kind { get; } = kind;
}

/// <summary>One registered op.</summary>
public sealed record OpInfo(string Name, OpKind Kind, IReadOnlyList<string> Members)
{
    /// <summary>The op's registry name, as in messages and <c>GradFn</c>.</summary>
    public string Name { get; init; } = Name;
    /// <summary>How it gets its gradient.</summary>
    public OpKind Kind { get; init; } = Kind;
    /// <summary>The public members that call it, e.g. <c>Tensor.Mul</c>.</summary>
    public IReadOnlyList<string> Members { get; init; } = Members;
}

/// <summary>
/// Every op of the core, found from the <see cref="OpAttribute"/> on its definition, so the
/// property suite enumerates ops rather than listing them by hand: an op the suite has no
/// case for fails its meta-test. Ops may be defined on any public type of the core (device
/// copies, collectives), not only on <see cref="Tensor"/>.
/// </summary>
public static class OpRegistry
{
    static readonly Lazy<IReadOnlyList<OpInfo>> all = new(() =>
        typeof(Tensor).Assembly.GetExportedTypes()
            .SelectMany(t => t.GetMembers(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (m, a: m.GetCustomAttribute<OpAttribute>()))
            .Where(p => p.a is not null)
            .GroupBy(p => p.a!.Name)
            .Select(g => new OpInfo(g.Key, g.First().a!.Kind, g.Select(p => p.m.Name).Distinct().ToArray()))
            .OrderBy(o => o.Name, StringComparer.Ordinal)
            .ToArray());

    /// <summary>All registered ops, by name.</summary>
    public static IReadOnlyList<OpInfo> All => all.Value;

    /// <summary>The op of that name, or null.</summary>
    public static OpInfo? Find(string name) => All.FirstOrDefault(o => o.Name == name);
}
