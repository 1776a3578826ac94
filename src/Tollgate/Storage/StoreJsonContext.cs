using System.Text.Json.Serialization;

namespace Tollgate.Storage;

/// <summary>JSON for the list columns (models, data classes), stored as JSON arrays of strings.</summary>
[JsonSerializable(typeof(string[]))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
