namespace Unikernel.Generators.Tests;

/// <summary>
/// Snapshot baselines (Verify is not available): compares text with <c>Snapshots/NAME.verified.cs</c>; on a mismatch writes
/// <c>NAME.received.cs</c> beside it and fails with the command that shows the difference and the one that accepts it.
/// </summary>
public static class Snapshot
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Directory => Path.Combine(RepositoryRoot, "tests", "Unikernel.Generators.Tests", "Snapshots");

    public static void Verify(string name, string actual)
    {
        actual = Normalize(actual);
        var verified = Path.Combine(Directory, name + ".verified.cs");
        var received = Path.Combine(Directory, name + ".received.cs");
        var expected = File.Exists(verified) ? Normalize(File.ReadAllText(verified)) : null;
        if (expected == actual)
        {
            if (File.Exists(received))
            {
                File.Delete(received);
            }
            return;
        }
        System.IO.Directory.CreateDirectory(Directory);
        File.WriteAllText(received, actual);
        var diff = expected is null
            ? $"No baseline yet: review {received}"
            : $"First difference at line {FirstDifferentLine(expected, actual)}; see: diff -u {verified} {received}";
        Assert.Fail($"Snapshot '{name}' does not match. {diff}\nIf the change is intended, accept it: mv {received} {verified}");
    }

    private static int FirstDifferentLine(string expected, string actual)
    {
        var a = expected.Split('\n');
        var b = actual.Split('\n');
        var i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i])
        {
            i++;
        }
        return i + 1;
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n') + "\n";

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Unikernel.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("Cannot find the repository root (the folder with Unikernel.sln) above " + AppContext.BaseDirectory);
    }
}
