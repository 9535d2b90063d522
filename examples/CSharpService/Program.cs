// Serves a checkpoint written by examples/TrainMlp on 127.0.0.1:
//   dotnet run --project examples/CSharpService -- out/mlp.safetensors 5080
//   curl -s localhost:5080/predict -H 'content-type: application/json' -d '{"inputs": [[0.3, -0.2]]}'
using Cotangent.Examples.Service;
using Cotangent.Io;

if (args.Length is < 1 or > 2 || (args.Length == 2 && !int.TryParse(args[1], out _)))
{
    Console.Error.WriteLine("usage: CSharpService CHECKPOINT [PORT]   (PORT defaults to 5080)");
    return 2;
}
int port = args.Length == 2 ? int.Parse(args[1]) : 5080;
WebApplication app;
try
{
    app = ServiceApp.Build(args[0], port);
}
catch (Exception e) when (e is SafetensorsException or ArgumentException or InvalidDataException)
{
    Console.Error.WriteLine($"CSharpService: cannot serve {args[0]}: {e.Message}");
    return 1;
}
app.Run();
return 0;
