using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Cotangent.Backends;

namespace Cotangent.Io;

/// <summary>
/// A safetensors file could not be read or written: missing, unreadable, truncated, corrupted
/// or malformed, or its folder does not exist. The message starts with the path. Nothing was
/// loaded, and a failed write left any previous file as it was.
/// </summary>
public sealed class SafetensorsException : IOException
{
    /// <summary>A failure with a message that starts with the path.</summary>
    public SafetensorsException(string message) : base(message) { }

    /// <summary>A failure caused by <paramref name="inner"/>, an I/O error of the runtime.</summary>
    public SafetensorsException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Reads and writes the safetensors format (as the Python <c>safetensors</c> library):
/// an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each name to
/// <c>{"dtype", "shape", "data_offsets": [begin, end]}</c> (offsets into the data that follows)
/// plus an optional string map <c>"__metadata__"</c>, then the tensors' bytes, little-endian,
/// row-major, back to back with no gaps. Dtypes: F32, F64, I64, BOOL.
/// <para>
/// Writes go to a temporary file in the same folder, are flushed to disk, then renamed over
/// the target, so a crash leaves the old file or the new one, never half of one. Cotangent
/// adds <c>"cotangent.sha256"</c> to the metadata: a hash of the tensor table and the data, so
/// any corrupted byte is detected on load. Loads check the whole header (lengths against the
/// file size before allocating, dtypes, shapes, offsets, the hash) before building any tensor.
/// </para>
/// </summary>
public static class Safetensors
{
    /// <summary>The metadata key of Cotangent's integrity hash.</summary>
    public const string HashKey = "cotangent.sha256";

    /// <summary>Headers above this size are refused rather than allocated.</summary>
    public const int MaxHeaderBytes = 100_000_000;

    static string Code(DType t) => t switch
    {
        DType.Float32 => "F32",
        DType.Float64 => "F64",
        DType.Int64 => "I64",
        _ => "BOOL",
    };

    internal static int Size(DType t) => t switch { DType.Float32 => 4, DType.Bool => 1, _ => 8 };

    internal sealed record Entry(string Name, DType DType, int[] Shape, long Begin, long End);

    /// <summary>Writes the tensors (and string metadata) to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        CheckPath(path);
        if (tensors is null) throw new ArgumentNullException(nameof(tensors), "safetensors: the tensors are null");
        if (tensors.Keys.Any(k => k == "__metadata__" || k.Length == 0))
            throw new ArgumentException("safetensors: tensor names must be non-empty and not '__metadata__'");
        foreach (var (k, t) in tensors)
        {
            if (t is null) throw new ArgumentException($"safetensors: the tensor {Quote(k)} is null", nameof(tensors));
            t.CheckAlive("safetensors");
        }
        if (metadata is not null)
            foreach (var (k, v) in metadata)
                if (k is null || v is null) throw new ArgumentException($"safetensors: metadata {Quote(k ?? "")} has a null key or value", nameof(metadata));
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var entries = new List<Entry>();
        var data = new MemoryStream();
        foreach (var name in names)
        {
            var t = tensors[name];
            var bytes = Bytes(t);
            entries.Add(new Entry(name, t.DType, t.Shape, data.Length, data.Length + bytes.Length));
            data.Write(bytes);
        }
        var meta = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null) foreach (var (k, v) in metadata) if (k != HashKey) meta[k] = v;
        meta[HashKey] = Hash(entries, meta, data.GetBuffer().AsSpan(0, (int)data.Length));
        var header = Header(entries, meta);

        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var f = Open(path, () => new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None), "write"))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                f.Write(len);
                f.Write(header);
                data.Position = 0;
                data.CopyTo(f);
                f.Flush(flushToDisk: true);
            }
            Open(path, () => { File.Move(temp, path, overwrite: true); return 0; }, "write");
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    static byte[] Bytes(Tensor t) => t.DType switch
    {
        DType.Float32 => MemoryMarshal.AsBytes<float>(t.ToArray<float>()).ToArray(),
        DType.Float64 => MemoryMarshal.AsBytes<double>(t.ToArray<double>()).ToArray(),
        DType.Int64 => MemoryMarshal.AsBytes<long>(t.ToArray<long>()).ToArray(),
        _ => t.ToArray<bool>().Select(b => b ? (byte)1 : (byte)0).ToArray(),
    };

    static byte[] Header(List<Entry> entries, SortedDictionary<string, string> meta)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in meta) w.WriteString(k, v);
            w.WriteEndObject();
            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", Code(e.DType));
                w.WriteStartArray("shape");
                foreach (var d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(e.Begin);
                w.WriteNumberValue(e.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // pad with spaces to a multiple of 8, as the reference writer does, so the data is aligned
        while (buffer.Length % 8 != 0) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    /// <summary>SHA-256 over a canonical text of the table and metadata, then the data bytes.</summary>
    static string Hash(IEnumerable<Entry> entries, IEnumerable<KeyValuePair<string, string>> meta, ReadOnlySpan<byte> data)
    {
        // fed piece by piece through one reused buffer (the UTF-8 of a concatenation is the
        // concatenation of the pieces'), so a hostile header's long names, or its many entries,
        // are never copied into one big text
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[256];
        void Text(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            if (n > buffer.Length) buffer = new byte[Math.Max(n, 2 * buffer.Length)];
            sha.AppendData(buffer, 0, Encoding.UTF8.GetBytes(s, buffer));
        }
        void Number(long v)
        {
            v.TryFormat(buffer, out int n, provider: System.Globalization.CultureInfo.InvariantCulture);
            sha.AppendData(buffer, 0, n);
        }
        foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            Text(e.Name);
            Text("\n");
            Text(Code(e.DType));
            Text("\n");
            for (int i = 0; i < e.Shape.Length; i++)
            {
                if (i > 0) Text(",");
                Number(e.Shape[i]);
            }
            Text("\n");
            Number(e.Begin);
            Text("\n");
            Number(e.End);
            Text("\n");
        }
        foreach (var (k, v) in meta.Where(p => p.Key != HashKey).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Text("meta\n");
            Text(k);
            Text("\n");
            Text(v);
            Text("\n");
        }
        sha.AppendData(data);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>
    /// Reads every tensor and the metadata; throws <see cref="SafetensorsException"/> before
    /// building anything when the file is not sound. With <paramref name="requireHash"/> (files
    /// Cotangent wrote) a missing integrity hash is itself an error, so a corruption that hits
    /// the hash's key cannot switch the check off.
    /// </summary>
    public static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Load(string path, bool requireHash = false)
    {
        CheckPath(path);
        using var f = Open(path, () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read), "read");
        long fileLength = f.Length;
        if (fileLength < 8) throw Bad(path, $"truncated: {fileLength} bytes, fewer than the 8-byte header length");
        Span<byte> len = stackalloc byte[8];
        f.ReadExactly(len);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n > (ulong)(fileLength - 8)) throw Bad(path, $"the header length {n} exceeds the {fileLength - 8} bytes after it (truncated or forged)");
        if (n > MaxHeaderBytes) throw Bad(path, $"the header length {n} exceeds the {MaxHeaderBytes}-byte limit");
        if (n < 2) throw Bad(path, $"the header length {n} is too small for a JSON object");
        var header = new byte[n];
        f.ReadExactly(header);
        long dataLength = fileLength - 8 - (long)n;
        if (dataLength > Array.MaxLength) throw Bad(path, $"{dataLength} bytes of tensor data are more than one buffer can hold");

        var (entries, meta) = HeaderReader.Read(path, header, dataLength);
        var data = new byte[dataLength];
        f.ReadExactly(data);
        if (!meta.TryGetValue(HashKey, out var expected))
        {
            if (requireHash) throw Bad(path, $"the integrity hash ({HashKey}) is missing: the file is corrupted or was not written by Cotangent");
        }
        else if (Hash(entries, meta, data) != expected) throw Bad(path, "the integrity hash does not match: the file is corrupted");

        var tensors = new Dictionary<string, Tensor>();
        foreach (var e in entries)
            tensors[e.Name] = Build(path, e, data.AsSpan((int)e.Begin, (int)(e.End - e.Begin)));
        return (tensors, meta);
    }

    static Tensor Build(string path, Entry e, ReadOnlySpan<byte> bytes)
    {
        Array data = e.DType switch
        {
            DType.Float32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            DType.Float64 => MemoryMarshal.Cast<byte, double>(bytes).ToArray(),
            DType.Int64 => MemoryMarshal.Cast<byte, long>(bytes).ToArray(),
            _ => Bools(path, e.Name, bytes),
        };
        // as safetensors' load_file: tensors load on the CPU; move them with To(device)
        return Tensor.OfStorage(Backend.For(Device.Cpu, "load").Wrap(data), e.Shape);
    }

    static bool[] Bools(string path, string name, ReadOnlySpan<byte> bytes)
    {
        var o = new bool[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] > 1) throw Bad(path, $"{Quote(name)} holds the byte {bytes[i]} where a bool must be 0 or 1");
            o[i] = bytes[i] == 1;
        }
        return o;
    }

    /// <summary>Runs a file operation, turning the runtime's I/O errors into one naming the path.</summary>
    static T Open<T>(string path, Func<T> io, string verb)
    {
        try { return io(); }
        catch (Exception e) when ((e is FileNotFoundException or DirectoryNotFoundException) && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(path))))
        {
            throw new SafetensorsException(verb == "read"
                ? $"{path}: no such file: the folder {Path.GetDirectoryName(Path.GetFullPath(path))} does not exist"
                : $"{path}: cannot write: the folder {Path.GetDirectoryName(Path.GetFullPath(path))} does not exist", e);
        }
        catch (FileNotFoundException e) when (verb == "read")
        {
            throw new SafetensorsException($"{path}: no such file (looked in {Path.GetDirectoryName(Path.GetFullPath(path))})", e);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException and not SafetensorsException)
        {
            throw new SafetensorsException($"{path}: cannot {verb}: {e.Message}", e);
        }
    }

    /// <summary>A path that names a file: not null, empty or blank.</summary>
    internal static void CheckPath(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new SafetensorsException($"'{path}': not a file path (empty or blank)");
        if (path.Contains('\0')) throw new SafetensorsException($"{path.Replace('\0', '?')}: not a file path (it holds a NUL character)");
    }

    /// <summary>
    /// The refusal of <paramref name="path"/>. Callers build the message only when refusing: a
    /// hostile header's names can be megabytes long, and formatting them for every check that
    /// passes cost 40 times the header's size before a bad file was refused.
    /// </summary>
    internal static SafetensorsException Bad(string path, string message) => new($"{path}: {message}");

    /// <summary>A name for a message: quoted, and cut short when a hostile file made it long.</summary>
    internal static string Quote(string name) => name.Length <= 80 ? $"'{name}'" : $"'{name[..60]}…' ({name.Length:N0} characters)";
}
