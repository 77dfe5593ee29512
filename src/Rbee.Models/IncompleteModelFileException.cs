namespace Rbee.Models;

/// <summary>
/// The file ends before what its own header says it holds (a string, an array, the tensor infos, or the tensor data
/// they describe): it is truncated, or, far more often in a models directory, still being copied or downloaded. From
/// the bytes alone the two cannot be told apart, and neither can a length field that lies past the end of the file, so
/// all three are this exception; a catalog skips such a file quietly and reads it again when its size or time changes.
/// A file that no length could make valid (wrong magic, impossible counts, unknown value types) is an
/// <see cref="InvalidDataException"/> instead, which is sealed: hence a type of its own, not a subclass.
/// </summary>
public sealed class IncompleteModelFileException(string message) : IOException(message);
