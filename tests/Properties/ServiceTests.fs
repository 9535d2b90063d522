/// examples/CSharpService over real HTTP on a free loopback port: answers, refusals, and
/// concurrent requests that agree with sequential ones.
module Cotangent.Tests.ServiceTests

open System
open System.IO
open System.Net
open System.Net.Http
open System.Net.Sockets
open System.Text
open System.Text.Json
open System.Threading.Tasks
open Expecto
open Cotangent
open Cotangent.Io
open Cotangent.Nn
open Cotangent.Examples.Service

let private freePort () =
    let l = new TcpListener(IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> IPEndPoint).Port
    l.Stop()
    port

let private post (client: HttpClient) (path: string) (json: string) =
    task {
        use content = new StringContent(json, Encoding.UTF8, "application/json")
        let! r = client.PostAsync(path, content)
        let! body = r.Content.ReadAsStringAsync()
        return int r.StatusCode, body
    }

/// Starts the service on a checkpoint of a small fixed MLP; runs `f` with a client and the local model.
let private withService (f: HttpClient -> Module -> Task<unit>) =
    task {
        let dir =
            Path.Combine(Path.GetTempPath(), "cotangent-service-" + Guid.NewGuid().ToString("N"))

        Directory.CreateDirectory dir |> ignore
        let path = Path.Combine(dir, "mlp.safetensors")

        let net =
            Sequential(Linear(2, 8, generator = Generator 1UL), ReLU(), Linear(8, 3, generator = Generator 2UL))

        Checkpoint.Save(path, net)
        let port = freePort ()
        let app = ServiceApp.Build(path, port)
        do! app.StartAsync()

        try
            use client = new HttpClient(BaseAddress = Uri(sprintf "http://127.0.0.1:%d" port))
            do! f client net
        finally
            app.StopAsync().Wait()
            Directory.Delete(dir, true)
    }

let private probabilities (net: Module) (rows: float list list) =
    use _ = Autograd.NoGrad()

    let x =
        Tensor.FromArray(rows |> List.concat |> List.map float32 |> Array.ofList, [| rows.Length; 2 |])

    net.Forward(x).Softmax(1).ToArray<float>()

let private saliency (net: Module) (row: float list) (k: int) =
    let x =
        Tensor.FromArray(row |> List.map float32 |> Array.ofList, [| 1; 2 |]).RequireGrad()

    Autograd.Grad([| net.Forward(x).LogSoftmax(1).Select(1, k).Sum() |], [| x |]).[0].ToArray<float>()

let private floats (e: JsonElement) =
    [| for v in e.EnumerateArray() -> v.GetDouble() |]

let tests =
    testList
        "service"
        [ testTask "predictions, saliency and refusals over HTTP" {
              do!
                  withService (fun client net ->
                      task {
                          let! health = client.GetStringAsync "/health"
                          Expect.stringContains health "\"inputs\":2" "health names the input size"

                          let! status, body = post client "/predict" """{"inputs": [[0.3, -0.2], [1.5, 0.25]]}"""
                          Expect.equal status 200 body
                          let doc = JsonDocument.Parse(body).RootElement

                          let probs =
                              [| for row in doc.GetProperty("probabilities").EnumerateArray() do
                                     yield! floats row |]

                          let expected = probabilities net [ [ 0.3; -0.2 ]; [ 1.5; 0.25 ] ]
                          Array.iter2 (fun a e -> Expect.floatClose Accuracy.high a e "probabilities") probs expected

                          let! status, body = post client "/saliency" """{"input": [0.3, -0.2], "class": 2}"""
                          Expect.equal status 200 body
                          let g = floats (JsonDocument.Parse(body).RootElement.GetProperty "gradient")

                          Array.iter2
                              (fun a e -> Expect.floatClose Accuracy.high a e "∂ log p₂ / ∂x")
                              g
                              (saliency net [ 0.3; -0.2 ] 2)

                          for json, reason in
                              [ """{"inputs": [[0.3, -0.2, 1.0]]}""", "row 0 has 3 numbers, the model takes 2"
                                """{"inputs": [[NaN, 1.0]]}""", "malformed JSON"
                                """{"inputs": [["NaN", 1.0]]}""", "malformed JSON"
                                """{"inputs": [[1e400, 1.0]]}""", "NaN or infinite"
                                """{"inputs": []}""", "at least one row"
                                """{"inputs": [[0.1, 0.2]]""", "malformed JSON"
                                """{"rows": [[0.1, 0.2]]}""", "malformed JSON"
                                "null", "empty body" ] do
                              let! status, body = post client "/predict" json
                              Expect.equal status 400 json
                              Expect.stringContains body reason json

                          let! status, body = post client "/saliency" """{"input": [0.3, -0.2], "class": 7}"""
                          Expect.equal status 400 body
                          Expect.stringContains body "not one of the model's 3 classes" "class"

                          // a well-behaved client sends a large body after "100 Continue", so the
                          // server's early refusal arrives instead of a reset mid-upload
                          let huge =
                              "{\"inputs\": ["
                              + String.Join(",", Array.create 60000 "[0.123456, 0.654321]")
                              + "]}"

                          use request =
                              new HttpRequestMessage(
                                  HttpMethod.Post,
                                  "/predict",
                                  Content = new StringContent(huge, Encoding.UTF8, "application/json")
                              )

                          request.Headers.ExpectContinue <- true
                          let! response = client.SendAsync request
                          let! body = response.Content.ReadAsStringAsync()
                          Expect.equal (int response.StatusCode) 400 "huge payload"
                          Expect.stringContains body "payload too large" "reason"
                      })
          }
          testTask "every bad request gets a 4xx with a JSON reason, and the service keeps serving" {
              do!
                  withService (fun client _ ->
                      task {
                          let reasonOf (status: int) (body: string) what =
                              Expect.isTrue (status >= 400 && status < 500) (sprintf "%s: a 4xx, got %d" what status)
                              let doc = JsonDocument.Parse(body).RootElement
                              Expect.isNotEmpty (doc.GetProperty("error").GetString()) (sprintf "%s: a reason" what)

                          // finite in JSON, beyond float32: used to overflow to infinity and answer 500 with no body
                          let! status, body = post client "/predict" """{"inputs": [[1e39, 1.0]]}"""
                          Expect.equal status 400 body
                          Expect.stringContains body "float32" "names the range"
                          let! status, body = post client "/saliency" """{"input": [0.1, -3.5e38]}"""
                          Expect.equal status 400 body

                          let! r = client.GetAsync "/nope"
                          let! body = r.Content.ReadAsStringAsync()
                          Expect.equal (int r.StatusCode) 404 body
                          reasonOf 404 body "unknown path"

                          let! r = client.GetAsync "/predict"
                          let! body = r.Content.ReadAsStringAsync()
                          Expect.equal (int r.StatusCode) 405 body
                          reasonOf 405 body "wrong method"

                          use plain =
                              new StringContent("""{"inputs": [[0.3, -0.2]]}""", Encoding.UTF8, "text/plain")

                          let! r = client.PostAsync("/predict", plain)
                          let! body = r.Content.ReadAsStringAsync()
                          Expect.equal (int r.StatusCode) 415 body
                          reasonOf 415 body "not JSON"
                          Expect.stringContains body "application/json" "says what to send"

                          use none =
                              new ByteArrayContent(Encoding.UTF8.GetBytes """{"inputs": [[0.3, -0.2]]}""")

                          let! r = client.PostAsync("/predict", none)
                          Expect.equal (int r.StatusCode) 415 "no content type"

                          let! status, body = post client "/predict" """{"inputs": [[0.3, -0.2]]}"""
                          Expect.equal status 200 body
                      })
          }
          testTask "concurrent requests agree with sequential ones" {
              do!
                  withService (fun client net ->
                      task {
                          let rows = [ for i in 0..63 -> [ float i / 32.0 - 1.0; sin (float i) ] ]

                          let ask (row: float list) =
                              task {
                                  let json =
                                      sprintf
                                          """{"input": [%s], "class": 1}"""
                                          (String.Join(", ", row |> List.map (fun v -> v.ToString "R")))

                                  let! status, body = post client "/saliency" json
                                  Expect.equal status 200 body
                                  return floats (JsonDocument.Parse(body).RootElement.GetProperty "gradient")
                              }

                          let! answers = rows |> List.map ask |> Task.WhenAll

                          for row, g in List.zip rows (List.ofArray answers) do
                              Array.iter2
                                  (fun a e -> Expect.floatClose Accuracy.high a e "saliency")
                                  g
                                  (saliency net row 1)

                          Expect.isNull (net.Parameters() |> Seq.head).Grad "the local model accumulated nothing"
                      })
          } ]
