using Cotangent.Nn;

namespace Cotangent.Io;

/// <summary>
/// A model's parameters and its optimizer's state in one safetensors file: "model.{name}" and
/// "optimizer.{key}" entries, and metadata "format" = "cotangent-checkpoint/1". Loading checks
/// the file, the model's state and the optimizer's state in full before changing either, so a
/// bad checkpoint never half-loads a model.
/// </summary>
public static class Checkpoint
{
    /// <summary>The metadata value that marks a Cotangent checkpoint.</summary>
    public const string Format = "cotangent-checkpoint/1";

    /// <summary>Writes the model (and optimizer) atomically to <paramref name="path"/>.</summary>
    public static void Save(string path, Module model, Optimizer? optimizer = null)
    {
        Safetensors.CheckPath(path);
        if (model is null) throw new ArgumentNullException(nameof(model), $"checkpoint: {path}: the model to save is null");
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, t) in model.StateDict()) tensors["model." + name] = t;
        if (optimizer is not null)
            foreach (var (name, t) in optimizer.StateDict()) tensors["optimizer." + name] = t;
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = Format });
    }

    /// <summary>Restores the model (and optimizer) from <paramref name="path"/>, all or nothing.</summary>
    public static void Load(string path, Module model, Optimizer? optimizer = null)
    {
        Safetensors.CheckPath(path);
        if (model is null) throw new ArgumentNullException(nameof(model), $"checkpoint: {path}: the model to load into is null");
        var (tensors, meta) = Safetensors.Load(path, requireHash: true);
        if (!meta.TryGetValue("format", out var format) || format != Format)
            throw new SafetensorsException($"{path}: not a Cotangent checkpoint (metadata format is '{format ?? "missing"}', expected '{Format}')");
        var modelState = Part(tensors, "model.");
        var optimizerState = Part(tensors, "optimizer.");
        try
        {
            model.CheckStateDict(modelState);
            if (optimizer is not null)
            {
                if (optimizerState.Count == 0) throw new SafetensorsException($"{path}: the checkpoint holds no optimizer state");
                optimizer.CheckStateDict(optimizerState);
            }
        }
        catch (StateDictMismatchException e)
        {
            throw e.From(path);
        }
        model.LoadStateDict(modelState);
        optimizer?.LoadStateDict(optimizerState);
    }

    static Dictionary<string, Tensor> Part(Dictionary<string, Tensor> all, string prefix) =>
        all.Where(p => p.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(p => p.Key[prefix.Length..], p => p.Value);
}
