// Serves a checkpoint written by examples/TrainMlp on 127.0.0.1:
//   dotnet run --project examples/CSharpService -- out/mlp.safetensors 5080
//   curl -s localhost:5080/predict -H 'content-type: application/json' -d '{"inputs": [[0.3, -0.2]]}'
using Cotangent.Examples.Service;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: CSharpService CHECKPOINT [PORT]");
    return 2;
}
var app = ServiceApp.Build(args[0], args.Length > 1 ? int.Parse(args[1]) : 5080);
app.Run();
return 0;
