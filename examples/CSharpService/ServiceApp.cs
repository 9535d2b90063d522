using System.Text.Json;
using System.Text.Json.Serialization;
using Cotangent.Io;
using Cotangent.Nn;
using Microsoft.AspNetCore.Http.Features;

namespace Cotangent.Examples.Service;

/// <summary>{"inputs": [[x₁, x₂, ...], ...]}</summary>
public sealed record PredictRequest(double[][]? Inputs);

/// <summary>{"input": [x₁, x₂, ...], "class": k (optional: the predicted one)}</summary>
public sealed record SaliencyRequest(double[]? Input, int? Class);

/// <summary>
/// A minimal API over a Cotangent model: predictions and input gradients (saliency) as JSON.
/// Requests share the model safely: tensors are immutable and the service never trains, and
/// saliency uses the functional gradient, which accumulates nothing into the parameters.
/// </summary>
public static class ServiceApp
{
    /// <summary>Bodies above this many bytes are refused with 400.</summary>
    public const int MaxBodyBytes = 1 << 20;

    /// <summary>At most this many rows per prediction request.</summary>
    public const int MaxRows = 4096;

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.Strict,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The app, bound to 127.0.0.1:<paramref name="port"/>, serving the checkpoint's model.</summary>
    public static WebApplication Build(string checkpointPath, int port)
    {
        var model = LoadMlp(checkpointPath);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = MaxBodyBytes);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();

        // every failure answers with {"error": reason}: unknown paths (404), wrong methods (405),
        // and anything unforeseen (500, logged), after which the service keeps serving
        app.UseExceptionHandler(handler => handler.Run(async ctx =>
        {
            ctx.Response.StatusCode = StatusCodes.Status500InternalServerError;
            await ctx.Response.WriteAsJsonAsync(new { error = "internal error: the request could not be served" });
        }));
        app.UseStatusCodePages(async status =>
        {
            var ctx = status.HttpContext;
            string reason = ctx.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => $"no such endpoint: {ctx.Request.Path}; the service has GET /health, POST /predict and POST /saliency",
                StatusCodes.Status405MethodNotAllowed => $"{ctx.Request.Method} is not allowed on {ctx.Request.Path}",
                var code => $"HTTP {code}",
            };
            await ctx.Response.WriteAsJsonAsync(new { error = reason });
        });

        app.MapGet("/health", () => Results.Json(new { status = "ok", inputs = model.Inputs, classes = model.Classes }));
        // plain request delegates: the handler reads the body itself, to bound and validate it
        app.MapPost("/predict", async ctx => await (await Handle<PredictRequest>(ctx, r => Predict(model, r))).ExecuteAsync(ctx));
        app.MapPost("/saliency", async ctx => await (await Handle<SaliencyRequest>(ctx, r => Saliency(model, r))).ExecuteAsync(ctx));
        return app;
    }

    /// <summary>An MLP rebuilt from "model.{i}.weight/bias" entries: a Linear at each such index, ReLU between.</summary>
    public static Mlp LoadMlp(string path)
    {
        var (tensors, _) = Safetensors.Load(path, requireHash: true);
        var linear = tensors.Keys
            .Select(k => k.Split('.'))
            .Where(p => p.Length == 3 && p[0] == "model" && p[2] == "weight")
            .Select(p => int.TryParse(p[1], out int i) && i is >= 0 and < 1000 ? i : throw new InvalidDataException($"{path}: '{string.Join('.', p)}' is not a layer of an MLP checkpoint"))
            .Order()
            .ToArray();
        if (linear.Length == 0) throw new InvalidDataException($"{path}: no 'model.N.weight' entries: not an MLP checkpoint");
        if (tensors.Where(kv => kv.Key.StartsWith("model.", StringComparison.Ordinal)).Any(kv => kv.Value.Rank != (kv.Key.EndsWith(".weight", StringComparison.Ordinal) ? 2 : 1)))
            throw new InvalidDataException($"{path}: an entry of the model is not a [out, in] weight or an [out] bias: not an MLP checkpoint");
        var layers = new Module[linear[^1] + 1];
        for (int i = 0; i < layers.Length; i++)
        {
            if (tensors.TryGetValue($"model.{i}.weight", out var w)) layers[i] = new Linear(w.Size(1), w.Size(0));
            else layers[i] = new ReLU();
        }
        var net = new Sequential(layers);
        Checkpoint.Load(path, net);
        foreach (var (name, p) in net.NamedParameters())
            if (p.Value.ToArray<double>().Any(v => !double.IsFinite(v)))
                throw new InvalidDataException($"{path}: parameter {name} holds NaN or infinite values; the model cannot serve");
        net.Eval();
        return new Mlp(net, tensors[$"model.{linear[0]}.weight"].Size(1), tensors[$"model.{linear[^1]}.weight"].Size(0));
    }

    /// <summary>The served model and its input and output sizes.</summary>
    public sealed record Mlp(Module Net, int Inputs, int Classes);

    static async Task<IResult> Handle<T>(HttpContext ctx, Func<T, IResult> run)
    {
        if (!ctx.Request.HasJsonContentType())
            return Results.Json(new { error = $"the body must be JSON: send content-type: application/json (got {ctx.Request.ContentType ?? "none"})" },
                statusCode: StatusCodes.Status415UnsupportedMediaType);
        if (ctx.Request.ContentLength > MaxBodyBytes)
            return Bad($"payload too large: {ctx.Request.ContentLength} bytes, the limit is {MaxBodyBytes}");
        T? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<T>(ctx.Request.Body, Json, ctx.RequestAborted);
        }
        catch (JsonException e)
        {
            return Bad($"malformed JSON: {e.Message}");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Bad($"payload too large: the limit is {MaxBodyBytes} bytes");
        }
        if (body is null) return Bad("empty body");
        try
        {
            return run(body);
        }
        catch (ArgumentException e)
        {
            return Bad(e.Message);
        }
    }

    static IResult Bad(string reason) => Results.Json(new { error = reason }, statusCode: StatusCodes.Status400BadRequest);

    static Tensor Rows(Mlp m, double[][] rows)
    {
        if (rows.Length == 0) throw new ArgumentException("inputs: at least one row is needed");
        if (rows.Length > MaxRows) throw new ArgumentException($"inputs: {rows.Length} rows, the limit is {MaxRows}");
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is null || rows[i].Length != m.Inputs)
                throw new ArgumentException($"inputs: row {i} has {rows[i]?.Length ?? 0} numbers, the model takes {m.Inputs}");
            if (rows[i].Any(v => !double.IsFinite(v)))
                throw new ArgumentException($"inputs: row {i} holds a NaN or infinite value");
            // the model computes in float32: a finite double beyond its range would become infinite
            if (rows[i].Any(v => Math.Abs(v) > float.MaxValue))
                throw new ArgumentException($"inputs: row {i} holds a value beyond float32's range (±{float.MaxValue:G9})");
        }
        var flat = rows.SelectMany(r => r.Select(v => (float)v)).ToArray();
        return Tensor.FromArray(flat, [rows.Length, m.Inputs]);
    }

    static IResult Predict(Mlp m, PredictRequest r)
    {
        if (r.Inputs is null) throw new ArgumentException("inputs: missing");
        var x = Rows(m, r.Inputs);
        using var _ = Autograd.NoGrad();
        var p = m.Net.Forward(x).Softmax(1);
        var probs = p.ToArray<double>();
        if (probs.Any(v => !double.IsFinite(v)))
            return Results.Json(new { error = "the model produced non-finite probabilities for these inputs" }, statusCode: StatusCodes.Status500InternalServerError);
        var rows = Enumerable.Range(0, x.Size(0)).Select(i => p[i, ..].ToArray<double>()).ToArray();
        var classes = p.ArgMax(1).ToArray<long>();
        return Results.Json(new { classes, probabilities = rows });
    }

    static IResult Saliency(Mlp m, SaliencyRequest r)
    {
        if (r.Input is null) throw new ArgumentException("input: missing");
        var x = Rows(m, [r.Input]).RequireGrad();
        var logp = m.Net.Forward(x).LogSoftmax(1);
        var lp = logp.ToArray<double>();
        int k = r.Class ?? (int)logp.ArgMax().Item<long>();
        if (k < 0 || k >= m.Classes) throw new ArgumentException($"class: {k} is not one of the model's {m.Classes} classes");
        // ∂ log p_k / ∂x, through the functional API: nothing accumulates into the shared parameters
        var g = Autograd.Grad([logp[0, k]], [x])[0].ToArray<double>();
        if (!double.IsFinite(lp[k]) || g.Any(v => !double.IsFinite(v)))
            return Results.Json(new { error = "the model produced a non-finite log-probability or gradient for this input" }, statusCode: StatusCodes.Status500InternalServerError);
        return Results.Json(new { @class = k, probability = Math.Exp(lp[k]), gradient = g });
    }
}
