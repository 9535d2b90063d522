namespace Cotangent.Nn;

/// <summary>
/// Parameters with their own learning rate, weight decay and other hyperparameters (one of
/// torch.optim's param_groups); options left out take the optimizer's. The other options go by
/// torch's names ("momentum", "dampening", "beta1" and "beta2" for its betas, "eps", "alpha", "rho", "lr_decay",
/// "initial_accumulator_value", "momentum_decay"); each optimizer refuses a name it has no use
/// for and checks values as its constructor does. Give several to an optimizer through
/// <see cref="ParamGroups"/>: <c>new Sgd(new ParamGroups(new(body.Parameters()), new(head.Parameters(), learningRate: 1e-2)), 1e-3)</c>.
/// </summary>
public sealed class ParamGroup
{
    double? learningRate;

    /// <summary>A group over <paramref name="parameters"/>.</summary>
    public ParamGroup(IEnumerable<Parameter> parameters, double? learningRate = null, double? weightDecay = null, IReadOnlyDictionary<string, double>? options = null)
    {
        Options = options?.ToDictionary() ?? [];
        Parameters = parameters?.ToArray() ?? throw new ArgumentNullException(nameof(parameters), "param_group: the parameters are null");
        LearningRate = learningRate;
        if (weightDecay is double w && (!double.IsFinite(w) || w < 0))
            throw new ArgumentOutOfRangeException(nameof(weightDecay), w, $"param_group: weight decay must be a finite number, 0 or more, got {w}");
        WeightDecay = weightDecay;
    }

    /// <summary>The group's parameters.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The group's learning rate (schedules change it), or null for the optimizer's.</summary>
    public double? LearningRate
    {
        get => learningRate;
        set => learningRate = value is double r && (!double.IsFinite(r) || r < 0)
            ? throw new ArgumentOutOfRangeException(nameof(value), r, $"param_group: the learning rate must be a finite number, 0 or more, got {r}")
            : value;
    }

    /// <summary>The group's weight decay, or null for the optimizer's.</summary>
    public double? WeightDecay { get; }

    /// <summary>The group's other hyperparameters by torch's names; one not given takes the optimizer's.</summary>
    public IReadOnlyDictionary<string, double> Options { get; }

    /// <summary>The rate when the first schedule attached, which schedules start from.</summary>
    internal double? InitialRate { get; set; }
}

/// <summary>Parameter groups handed to an optimizer as its parameters (each parameter in one group).</summary>
public sealed class ParamGroups(params ParamGroup[] groups) : IEnumerable<Parameter>
{
    /// <summary>The groups, in order.</summary>
    public IReadOnlyList<ParamGroup> Groups { get; } = groups is null
        ? throw new ArgumentNullException(nameof(groups), "param_groups: the groups are null")
        : Array.IndexOf(groups, null) is var at and >= 0
            ? throw new ArgumentException($"param_groups: group {at} is null", nameof(groups))
            : groups.ToArray();

    /// <summary>Every group's parameters, group after group.</summary>
    public IEnumerator<Parameter> GetEnumerator() => Groups.SelectMany(g => g.Parameters).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
