/// Issue 15's linear algebra by the identities that define each factorisation (A·A⁻¹ = I,
/// QR = A with QᵀQ = I, AV = VΛ, UΣVᵀ = A, the normal equations of least squares) and by
/// matrices whose answers are known by hand; the gradients are the property suite's.
module Cotangent.Tests.LinalgTests

open System
open Expecto
open Cotangent
open Cotangent.Tests.Check

let private rng = Random 21

let private rand (s: int[]) =
    Tensor.FromArray(Array.init (Array.fold (*) 1 s) (fun _ -> rng.NextDouble() * 2.0 - 1.0), s)

let private eye n = Tensor.Eye(n, dtype = DType.Float64)
let private close tol (a: Tensor) (b: Tensor) what = near tol (values b) a what

let tests =
    testList
        "linear algebra"
        [ test "inv and solve: A·A⁻¹ = I, A·X = B, batched and broadcast" {
              let a = rand [| 3; 4; 4 |] + eye 4 * 2.0
              close 1e-13 (Tensor.MatMul(a, a.Inv())) (eye 4 |> fun i -> i.Expand(3, 4, 4)) "A·A⁻¹"
              let b = rand [| 1; 4; 2 |]
              let x = Tensor.Solve(a, b)
              close 1e-13 (Tensor.MatMul(a, x)) (b.Expand(3, 4, 2)) "A·X = B"
              let v = rand [| 3; 4 |]
              close 1e-13 (Tensor.MatMul(a, Tensor.Solve(a, v).Unsqueeze(-1)).Squeeze(-1)) v "a vector per matrix"
              // B [3, 3] against A [1, 3, 3] is a matrix right-hand side, not three vectors (torch's rule)
              let a1 = rand [| 1; 3; 3 |] + eye 3 * 2.0
              let b3 = rand [| 3; 3 |]
              let x3 = Tensor.Solve(a1, b3)
              Expect.equal x3.Shape [| 1; 3; 3 |] "broadcast matrix solve"
              close 1e-13 (Tensor.MatMul(a1, x3)) (b3.Unsqueeze 0) "A·X = B, B broadcast"

              throwsWith<OpArgumentException, _>
                  (fun () -> (Tensor.Zeros([| 2; 2 |], DType.Float64)).Inv())
                  [ "inv"; "singular" ]
          }
          test "det and slogdet of matrices known by hand" {
              near
                  1e-14
                  [| -2.0 |]
                  ((Tensor.FromArray([| 1.0; 2.0; 3.0; 4.0 |], [| 2; 2 |])).Det())
                  "det [[1, 2], [3, 4]]"

              let d = Tensor.FromArray([| 2.0; 0; 0; 0; 3; 0; 0; 0; -4 |], [| 3; 3 |])
              near 1e-14 [| -24.0 |] (d.Det()) "a diagonal's product"
              let struct (s, l) = d.Slogdet()
              near 0.0 [| -1.0 |] s "sign"
              near 1e-14 [| log 24.0 |] l "log |det|"
              // 300 × 300 of 10·I: det = 10³⁰⁰ overflows nothing in log space
              let struct (_, big) = (eye 300 * 10.0).Slogdet()
              near 1e-12 [| 300.0 * log 10.0 |] big "no overflow"
          }
          test "cholesky: L·Lᵀ = A, L lower with a positive diagonal; indefinite refused" {
              let m = rand [| 4; 4 |]
              let a = Tensor.MatMul(m, m.T) + eye 4
              let l = a.Cholesky()
              close 1e-13 (Tensor.MatMul(l, l.T)) a "L·Lᵀ"
              close 0.0 l (l.Tril()) "lower"
              Expect.isTrue (values (l.Diagonal()) |> Array.forall (fun v -> v > 0.0)) "positive diagonal"

              throwsWith<OpArgumentException, _>
                  (fun () -> (Tensor.FromArray([| 1.0; 2.0; 2.0; 1.0 |], [| 2; 2 |])).Cholesky())
                  [ "cholesky"; "not positive-definite"; "order 2" ]
          }
          test "qr: Q·R = A, QᵀQ = I, R upper with a non-negative diagonal, tall and wide" {
              for m, n in [ 5, 3; 3, 5; 4, 4 ] do
                  let a = rand [| m; n |]
                  let struct (q, r) = a.Qr()
                  let k = min m n
                  close 1e-13 (Tensor.MatMul(q, r)) a (sprintf "QR of %d×%d" m n)
                  close 1e-13 (Tensor.MatMul(q.T, q)) (eye k) "orthonormal columns"
                  close 0.0 r (r.Triu()) "upper"
                  Expect.isTrue (values (r.Diagonal()) |> Array.forall (fun v -> v >= 0.0)) "diagonal ≥ 0"
          }
          test "eigh: A·V = V·Λ, VᵀV = I, ascending; [[2, 1], [1, 2]] has 1 and 3" {
              let struct (l, _) = (Tensor.FromArray([| 2.0; 1.0; 1.0; 2.0 |], [| 2; 2 |])).Eigh()
              near 1e-14 [| 1.0; 3.0 |] l "eigenvalues"
              let m = rand [| 5; 5 |]
              let a = m + m.T
              let struct (w, v) = a.Eigh()
              close 1e-12 (Tensor.MatMul(a, v)) (v * w.Unsqueeze 0) "A·V = V·Λ"
              close 1e-12 (Tensor.MatMul(v.T, v)) (eye 5) "orthonormal"
              let wv = values w
              Expect.isTrue (Array.pairwise wv |> Array.forall (fun (x, y) -> x <= y)) "ascending"
              // only the lower triangle is read, as torch's default UPLO = 'L'
              let struct (w2, _) =
                  (a.Tril() + Tensor.Ones([| 5; 5 |], DType.Float64).Triu 1 * 7.0).Eigh()

              close 1e-12 w2 w "the upper triangle is ignored"
          }
          test "svd: U·Σ·Vh = A with orthonormal factors, descending; [[3, 0], [4, 5]] has 3√5 and √5" {
              let struct (_, s, _) =
                  (Tensor.FromArray([| 3.0; 0.0; 4.0; 5.0 |], [| 2; 2 |])).Svd()

              near 1e-14 [| 3.0 * sqrt 5.0; sqrt 5.0 |] s "singular values"

              for m, n in [ 5, 3; 3, 5 ] do
                  let a = rand [| 2; m; n |]
                  let struct (u, s, vh) = a.Svd()
                  let k = min m n
                  close 1e-12 (Tensor.MatMul(u * s.Unsqueeze(-2), vh)) a (sprintf "UΣVh of %d×%d" m n)
                  close 1e-12 (Tensor.MatMul(u.Transpose(-2, -1), u)) (eye k |> fun i -> i.Expand(2, k, k)) "UᵀU = I"

                  close
                      1e-12
                      (Tensor.MatMul(vh, vh.Transpose(-2, -1)))
                      (eye k |> fun i -> i.Expand(2, k, k))
                      "Vh·Vhᵀ = I"

              let s32 = let struct (_, s, _) = (rand [| 3; 3 |]).To(DType.Float32).Svd() in s
              Expect.equal s32.DType DType.Float32 "float32 in, float32 out"
          }
          test "gradients of the values alone exist where vectors are not unique" {
              let i3 = (eye 3).RequireGrad()
              let struct (l, _) = i3.Eigh()
              l.Sum().Backward()
              near 1e-14 (values (eye 3)) i3.Grad "∂ trace = I, with a triple eigenvalue"
              // the nuclear norm of an orthogonal matrix: its gradient U·Vh is the matrix itself
              let c, s = cos 0.3, sin 0.3
              let q = Tensor.FromArray([| c; -s; s; c |], [| 2; 2 |]).RequireGrad()
              let struct (_, sv, _) = q.Svd()
              sv.Sum().Backward()
              near 1e-14 [| c; -s; s; c |] q.Grad "∂‖Q‖* = Q, with repeated singular values"
          }
          test "lstsq fits a line and satisfies the normal equations" {
              // y = 2x + 1 through (0, 1), (1, 3), (2, 5): exactly
              let a = Tensor.FromArray([| 1.0; 0.0; 1.0; 1.0; 1.0; 2.0 |], [| 3; 2 |])

              near
                  1e-14
                  [| 1.0; 2.0 |]
                  (Tensor.Lstsq(a, Tensor.FromArray([| 1.0; 3.0; 5.0 |], [| 3 |])))
                  "intercept and slope"

              let tall, b = rand [| 6; 3 |], rand [| 6; 2 |]
              let x = Tensor.Lstsq(tall, b)

              close
                  1e-13
                  (Tensor.MatMul(tall.T, Tensor.MatMul(tall, x) - b))
                  (Tensor.Zeros([| 3; 2 |], DType.Float64))
                  "Aᵀ(AX − B) = 0"

              let wide, c = rand [| 2; 4 |], rand [| 2; 1 |]
              let y = Tensor.Lstsq(wide, c)
              close 1e-13 (Tensor.MatMul(wide, y)) c "an underdetermined system is solved exactly"
          }
          test
              "on a simulated device: every factorisation runs there, a batch wider than the grid, failures named by matrix" {
              let sim = Device.Simulated 3
              // 40 matrices: more than the simulator's 32 threads, so one thread takes two (the grid-stride loop)
              let m = (rand [| 40; 4; 4 |]).To sim
              let a = m + (eye 4).To(sim) * 3.0

              let on (t: Tensor) what =
                  Expect.equal t.Device sim (what + " stays on the device")

              let inv = a.Inv()
              on inv "inv"
              close 1e-12 (Tensor.MatMul(a, inv)) ((eye 4).Expand(40, 4, 4)) "A·A⁻¹ = I on the device"
              let spd = Tensor.MatMul(m, m.Transpose(-2, -1)) + (eye 4).To(sim)
              let l = spd.Cholesky()
              on l "cholesky"
              close 1e-12 (Tensor.MatMul(l, l.Transpose(-2, -1))) spd "L·Lᵀ on the device"
              let struct (w, v) = spd.Eigh()
              on v "eigh"
              close 1e-11 (Tensor.MatMul(spd, v)) (v * w.Unsqueeze(-2)) "A·V = V·Λ on the device"
              let d = a.Det()
              on d "det"
              let dCpu = (a.To Device.Cpu).Det()
              close 1e-12 d dCpu "det as on the CPU"
              // pivoting: rows that must be swapped (a zero in the first pivot place), known answers
              let swap =
                  Tensor.FromArray([| 0.0; 2.0; 1.0; 3.0; 4.0; 0.0; 5.0; 6.0; 1.0 |], [| 3; 3 |]).To sim

              near 1e-13 [| -8.0 |] (swap.Det()) "det of a matrix whose rows are swapped by pivoting"
              let struct (sg, ld) = swap.Slogdet()
              near 0.0 [| -1.0 |] sg "slogdet's sign on the device"
              near 1e-13 [| log 8.0 |] ld "slogdet's log on the device"
              let rhs = (rand [| 3; 2 |]).To sim
              close 1e-13 (Tensor.MatMul(swap, Tensor.Solve(swap, rhs))) rhs "A·X = B through row swaps, two columns"

              for rows, cols in [ 6, 3; 3, 6 ] do
                  let x = (rand [| 35; rows; cols |]).To sim
                  let struct (q, r) = x.Qr()
                  on q "qr"
                  close 1e-12 (Tensor.MatMul(q, r)) x (sprintf "QR of %d×%d on the device" rows cols)
                  let struct (u, s, vh) = x.Svd()
                  on s "svd"

                  close
                      1e-12
                      (Tensor.MatMul(u * s.Unsqueeze(-2), vh))
                      x
                      (sprintf "UΣVh of %d×%d on the device" rows cols)

              // rank 1: the zero singular values' left vectors still complete U to orthonormal columns
              let r1 = (Tensor.MatMul(rand [| 5; 1 |], rand [| 1; 3 |])).To sim
              let struct (u1, s1, _) = r1.Svd()
              Expect.isTrue ((values s1).[1] < 1e-12 && (values s1).[2] < 1e-12) "rank 1"
              close 1e-12 (Tensor.MatMul(u1.T, u1)) (eye 3) "UᵀU = I with zero singular values"

              // matrix 37 singular, matrix 38 indefinite: the error names the one the batch failed on
              let singular =
                  Tensor.Cat([| a.Narrow(0, 0, 37); Tensor.Zeros([| 1; 4; 4 |], DType.Float64, sim) |], 0)

              throwsWith<OpArgumentException, _> (fun () -> singular.Inv()) [ "inv"; "matrix 37"; "singular" ]
              throwsWith<OpArgumentException, _> (fun () -> Tensor.Solve(singular, singular)) [ "solve"; "matrix 37" ]

              let indefinite =
                  Tensor.Cat([| spd.Narrow(0, 0, 38); -(eye 4).To(sim).Unsqueeze 0 |], 0)

              throwsWith<OpArgumentException, _>
                  (fun () -> indefinite.Cholesky())
                  [ "cholesky"; "matrix 38"; "order 1" ]

              let holey = Tensor.Where(Tensor.Eye(4, dtype = DType.Bool).To sim, Double.NaN, a)
              throwsWith<OpArgumentException, _> (fun () -> holey.Svd() |> ignore) [ "svd"; "NaN" ]
          } ]
